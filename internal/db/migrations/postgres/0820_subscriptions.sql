-- Subscriptions to service updates by mail (the public status page) and
-- announcements to the requesters and subscribers of services.
--
-- One row per address. A request stores what it asks for in
-- pending_all/pending_services and a fresh confirm_nonce, which the signed
-- confirmation link carries; confirming moves them into all_services and
-- subscription_services and clears the nonce (the link works once). The
-- unsubscribe link carries unsubscribe_nonce, fixed for the row.
CREATE TABLE subscriptions (
	id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	email             TEXT NOT NULL UNIQUE,
	all_services      BOOLEAN NOT NULL DEFAULT FALSE,
	confirmed_at      TIMESTAMPTZ,
	pending_all       BOOLEAN NOT NULL DEFAULT FALSE,
	pending_services  TEXT NOT NULL DEFAULT '',
	confirm_nonce     TEXT NOT NULL DEFAULT '',
	unsubscribe_nonce TEXT NOT NULL,
	requested_at      TIMESTAMPTZ NOT NULL,
	request_ip        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX subscriptions_ip ON subscriptions(request_ip, requested_at);

CREATE TABLE subscription_services (
	subscription_id BIGINT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
	service_id      BIGINT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	PRIMARY KEY (subscription_id, service_id)
);
CREATE INDEX subscription_services_service ON subscription_services(service_id);

CREATE TABLE announcements (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	title      TEXT NOT NULL,
	body       TEXT NOT NULL,
	audience   TEXT NOT NULL,
	created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
	created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE announcement_services (
	announcement_id BIGINT NOT NULL REFERENCES announcements(id) ON DELETE CASCADE,
	service_id      BIGINT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	PRIMARY KEY (announcement_id, service_id)
);
CREATE INDEX announcement_services_service ON announcement_services(service_id);
