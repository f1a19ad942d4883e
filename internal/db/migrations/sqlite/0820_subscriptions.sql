-- Subscriptions to service updates by mail (the public status page) and
-- announcements to the requesters and subscribers of services.
--
-- One row per address. A request stores what it asks for in
-- pending_all/pending_services and a fresh confirm_nonce, which the signed
-- confirmation link carries; confirming moves them into all_services and
-- subscription_services and clears the nonce (the link works once). The
-- unsubscribe link carries unsubscribe_nonce, fixed for the row.
CREATE TABLE subscriptions (
	id                INTEGER PRIMARY KEY,
	email             TEXT NOT NULL UNIQUE,
	all_services      INTEGER NOT NULL DEFAULT 0,
	confirmed_at      TIMESTAMP,
	pending_all       INTEGER NOT NULL DEFAULT 0,
	pending_services  TEXT NOT NULL DEFAULT '',
	confirm_nonce     TEXT NOT NULL DEFAULT '',
	unsubscribe_nonce TEXT NOT NULL,
	requested_at      TIMESTAMP NOT NULL,
	request_ip        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX subscriptions_ip ON subscriptions(request_ip, requested_at);

CREATE TABLE subscription_services (
	subscription_id INTEGER NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
	service_id      INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	PRIMARY KEY (subscription_id, service_id)
);
CREATE INDEX subscription_services_service ON subscription_services(service_id);

CREATE TABLE announcements (
	id         INTEGER PRIMARY KEY,
	title      TEXT NOT NULL,
	body       TEXT NOT NULL,
	audience   TEXT NOT NULL,
	created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
	created_at TIMESTAMP NOT NULL
);

CREATE TABLE announcement_services (
	announcement_id INTEGER NOT NULL REFERENCES announcements(id) ON DELETE CASCADE,
	service_id      INTEGER NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	PRIMARY KEY (announcement_id, service_id)
);
CREATE INDEX announcement_services_service ON announcement_services(service_id);
