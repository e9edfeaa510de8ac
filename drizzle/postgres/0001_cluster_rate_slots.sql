CREATE TABLE "rate_slots" (
	"key" text NOT NULL,
	"slot" bigint NOT NULL,
	"count" integer DEFAULT 0 NOT NULL,
	CONSTRAINT "rate_slots_key_slot_pk" PRIMARY KEY("key","slot")
);
--> statement-breakpoint
CREATE INDEX "rate_slots_slot" ON "rate_slots" USING btree ("slot");