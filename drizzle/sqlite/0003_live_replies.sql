CREATE TABLE `streams` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`stream_id` text NOT NULL,
	`target` text NOT NULL,
	`card_id` text,
	`message_id` text,
	`sequence` integer DEFAULT 0 NOT NULL,
	`shown_text` text DEFAULT '' NOT NULL,
	`status` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `streams_user_stream` ON `streams` (`user_id`,`stream_id`);--> statement-breakpoint
CREATE INDEX `streams_status` ON `streams` (`status`);--> statement-breakpoint
CREATE TABLE `typing_reactions` (
	`message_id` text PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`seq` integer NOT NULL,
	`reaction_id` text,
	`added_at` integer NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `typing_reactions_user_seq` ON `typing_reactions` (`user_id`,`seq`);