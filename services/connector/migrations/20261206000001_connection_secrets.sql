-- Credentials stored with their connection, sealed (XChaCha20-Poly1305,
-- bound to tenant and connection) under the deployment key named by
-- secret_key_id: a tenant's credentials never come from the process's
-- environment by a name the tenant chose.
alter table connections add column secret_key_id text;
alter table connections add column secret_sealed bytea;
alter table connections add constraint connections_secret_whole
    check ((secret_key_id is null) = (secret_sealed is null));
