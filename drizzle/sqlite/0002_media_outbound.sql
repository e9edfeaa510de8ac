CREATE TABLE `media` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`size` integer NOT NULL,
	`mime` text NOT NULL,
	`name` text,
	`sha256` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `media_user` ON `media` (`user_id`);--> statement-breakpoint
CREATE INDEX `media_expires_at` ON `media` (`expires_at`);--> statement-breakpoint
ALTER TABLE `outbox` ADD `media_id` text;--> statement-breakpoint
ALTER TABLE `outbox` ADD `media_key` text;--> statement-breakpoint
CREATE INDEX `outbox_media` ON `outbox` (`media_id`);