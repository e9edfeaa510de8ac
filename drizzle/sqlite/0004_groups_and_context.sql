CREATE TABLE `chat_info` (
	`chat_id` text PRIMARY KEY NOT NULL,
	`name` text,
	`chat_mode` text,
	`fetched_at` integer,
	`notice_at` integer
);
--> statement-breakpoint
CREATE TABLE `group_bindings` (
	`chat_id` text PRIMARY KEY NOT NULL,
	`owner_user_id` integer NOT NULL,
	`require_mention` integer DEFAULT true NOT NULL,
	`bound_by` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`owner_user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `group_bindings_owner` ON `group_bindings` (`owner_user_id`);