-- An app made by an app setup (from app.json) is marked until the setup is done: one a
-- killed control plane left marked is removed at the next start (its add-ons, no longer
-- recorded, are then removed from their servers as leftovers).

ALTER TABLE apps ADD COLUMN setting_up INTEGER NOT NULL DEFAULT 0;
