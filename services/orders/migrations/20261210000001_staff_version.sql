-- Each change of a residence's staff takes the next staff_version (under
-- the residence's row lock) and carries it on its event, so that the
-- copies other services keep of who is a member never let an older change
-- undo a newer one.
alter table residences add column staff_version bigint not null default 0;
