DROP INDEX `inbox_acked_at`;--> statement-breakpoint
CREATE INDEX `inbox_received_at` ON `inbox` (`received_at`);--> statement-breakpoint
ALTER TABLE `inbox` DROP COLUMN `delivered_at`;--> statement-breakpoint
ALTER TABLE `inbox` DROP COLUMN `acked_at`;