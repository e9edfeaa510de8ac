PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_inbox` (
	`id` integer PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`seq` integer NOT NULL,
	`event_id` text NOT NULL,
	`message_id` text NOT NULL,
	`chat_id` text NOT NULL,
	`payload` text NOT NULL,
	`received_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
INSERT INTO `__new_inbox`("id", "user_id", "seq", "event_id", "message_id", "chat_id", "payload", "received_at") SELECT "id", "user_id", "seq", "event_id", "message_id", "chat_id", "payload", "received_at" FROM `inbox`;--> statement-breakpoint
DROP TABLE `inbox`;--> statement-breakpoint
ALTER TABLE `__new_inbox` RENAME TO `inbox`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE UNIQUE INDEX `inbox_user_seq` ON `inbox` (`user_id`,`seq`);--> statement-breakpoint
CREATE INDEX `inbox_received_at` ON `inbox` (`received_at`);