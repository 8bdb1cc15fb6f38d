//! Links sent by mail: a password reset (30 minutes) and an invitation to
//! set a first password (7 days), each usable once. The mail goes through
//! the platform's mail outbox in the transaction that made the link, so a
//! link is never made without its mail nor mailed without being stored.

use chrono::Utc;
use relais_platform::{
    auth::{Caller, Role},
    mail::{self, Mail},
};
use relais_proto::orders as ord;
use serde::Deserialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Account, Accounts, Issued, Row, email, internal, passwords, sessions};
use crate::problem::{Kind, Problem};

const RESET_MINUTES: i64 = 30;
const INVITATION_DAYS: i64 = 7;

/// The role of an invited account.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvitedRole {
    Customer,
    Staff,
    Admin,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Invitation {
    pub email: String,
    /// Staff invite customers only.
    pub role: InvitedRole,
    /// For a customer: the customer (orders) the account speaks for.
    pub customer_id: Option<Uuid>,
    /// For staff: the residences they become a member of.
    #[serde(default)]
    pub residences: Vec<Uuid>,
}

/// Who may invite whom: an admin anyone, staff the customers they may see
/// (the orders service says which), nobody else. Written here once; the
/// role × operation table is docs/access.md.
fn may_invite(caller: &Caller, role: Role) -> Result<(), Problem> {
    let allowed = match caller.role {
        Role::Admin => true,
        Role::Staff => role == Role::Customer,
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(Problem::new(
            Kind::Forbidden,
            format!(
                "a {} may not invite a {}",
                caller.role.as_str(),
                role.as_str()
            ),
        ))
    }
}

async fn store(
    conn: &mut PgConnection,
    tenant: Uuid,
    account: Uuid,
    purpose: &str,
    valid_for: chrono::Duration,
) -> sqlx::Result<String> {
    let token = sessions::secret();
    sqlx::query(
        "insert into account_links (token_hash, tenant_id, account_id, purpose, expires_at)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(sessions::digest(&token))
    .bind(tenant)
    .bind(account)
    .bind(purpose)
    .bind(Utc::now() + valid_for)
    .execute(conn)
    .await?;
    Ok(token)
}

fn invalid_token() -> Problem {
    Problem::field(
        "token",
        "is not valid: it is unknown, used or expired; ask for a new one",
    )
}

/// The account a valid, unused link of `purpose` opens, the link then
/// used (in the caller's transaction).
async fn redeem(conn: &mut PgConnection, token: &str, purpose: &str) -> Result<Row, Problem> {
    let found: Option<(Uuid, Uuid)> = sqlx::query_as(
        "update account_links set used_at = now()
         where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now()
         returning tenant_id, account_id",
    )
    .bind(sessions::digest(token.trim()))
    .bind(purpose)
    .fetch_optional(&mut *conn)
    .await
    .map_err(internal)?;
    let (tenant, account) = found.ok_or_else(invalid_token)?;
    sqlx::query_as::<_, Row>(
        "select id, tenant_id, email, password_hash, role, customer_id, status, failed_attempts, locked_until from accounts where tenant_id = $1 and id = $2 for update",
    )
    .bind(tenant)
    .bind(account)
    .fetch_one(&mut *conn)
    .await
    .map_err(internal)
}

/// Sets the password of `row`, activates it, clears its lockout and signs
/// out every device signed in before.
async fn set_password(conn: &mut PgConnection, row: &Row, hash: &str) -> Result<(), Problem> {
    sqlx::query(
        "update accounts set password_hash = $3, status = 'active', failed_attempts = 0,
             locked_until = null, updated_at = now()
         where tenant_id = $1 and id = $2",
    )
    .bind(row.tenant_id)
    .bind(row.id)
    .bind(hash)
    .execute(&mut *conn)
    .await
    .map_err(internal)?;
    // Other links of the account are spent too: one reset per mail read.
    sqlx::query("update account_links set used_at = now() where tenant_id = $1 and account_id = $2 and used_at is null")
        .bind(row.tenant_id)
        .bind(row.id)
        .execute(&mut *conn)
        .await
        .map_err(internal)?;
    sessions::revoke_all(conn, row.tenant_id, row.id)
        .await
        .map_err(internal)
}

impl Accounts {
    /// Mails a reset link if an active account has this e-mail; says the
    /// same either way, so the form tells nobody who has an account.
    pub async fn request_reset(&self, tenant: Uuid, raw_email: &str) -> Result<(), Problem> {
        let email = email("email", raw_email)?;
        let Some(row) = self
            .find(tenant, &email)
            .await?
            .filter(|r| r.status == "active")
        else {
            return Ok(());
        };
        let mut tx = self.pool.begin().await.map_err(internal)?;
        let token = store(
            &mut tx,
            tenant,
            row.id,
            "reset",
            chrono::Duration::minutes(RESET_MINUTES),
        )
        .await
        .map_err(internal)?;
        let link = format!(
            "{}/reset-password?token={token}",
            self.settings.public_url.trim_end_matches('/')
        );
        mail::enqueue(
            &mut tx,
            &Mail {
                to: email,
                subject: "Reset your password".into(),
                body: format!(
                    "Someone (we hope you) asked to reset the password of your account.\n\n\
                     Choose a new one within {RESET_MINUTES} minutes: {link}\n\n\
                     Or send this token to POST /v1/auth/password-reset/confirm: {token}\n\n\
                     If it was not you, ignore this mail: your password has not changed."
                ),
                attachment: None,
                about: format!("account:{}:reset", row.id),
            },
        )
        .await
        .map_err(internal)?;
        tx.commit().await.map_err(internal)
    }

    /// Sets a new password with a reset link's token, and signs in.
    pub async fn confirm_reset(&self, token: &str, password: &str) -> Result<Issued, Problem> {
        self.redeem_with_password(token, "reset", password).await
    }

    /// Sets the first password with an invitation's token, and signs in.
    pub async fn accept_invitation(&self, token: &str, password: &str) -> Result<Issued, Problem> {
        self.redeem_with_password(token, "invitation", password)
            .await
    }

    async fn redeem_with_password(
        &self,
        token: &str,
        purpose: &str,
        password: &str,
    ) -> Result<Issued, Problem> {
        if password.chars().count() > passwords::MAX_LEN {
            return Err(Problem::field(
                "password",
                format!("must be at most {} characters", passwords::MAX_LEN),
            ));
        }
        // A made-up token is refused before the (costly) hash; the hash is
        // computed before the transaction, which then holds no lock while
        // it runs, and the token is spent in it (a race is settled there).
        let live: Option<(i32,)> = sqlx::query_as(
            "select 1 from account_links
             where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now()",
        )
        .bind(sessions::digest(token.trim()))
        .bind(purpose)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?;
        if live.is_none() {
            return Err(invalid_token());
        }
        let hash = self.hasher.hash(password).await.map_err(internal)?;
        let mut tx = self.pool.begin().await.map_err(internal)?;
        let row = redeem(&mut tx, token, purpose).await?;
        passwords::check_new("password", password, &row.email)?;
        set_password(&mut tx, &row, &hash).await?;
        tx.commit().await.map_err(internal)?;
        let row = Row {
            status: "active".into(),
            ..row
        };
        self.issue(&row).await
    }

    /// Invites someone to an account of the caller's tenant: created
    /// `invited`, with a link mailed to set a password.
    pub async fn invite(
        &self,
        who: &crate::extract::Bearer,
        inv: Invitation,
    ) -> Result<Account, Problem> {
        let role = match inv.role {
            InvitedRole::Customer => Role::Customer,
            InvitedRole::Staff => Role::Staff,
            InvitedRole::Admin => Role::Admin,
        };
        may_invite(&who.caller, role)?;
        let email = email("email", &inv.email)?;
        let tenant = who.caller.tenant;
        match (role, inv.customer_id, inv.residences.is_empty()) {
            (Role::Customer, None, _) => {
                return Err(Problem::field("customer_id", "is required for a customer"));
            }
            (Role::Customer, Some(_), false) | (Role::Admin, _, false) => {
                return Err(Problem::field("residences", "is only for staff"));
            }
            (Role::Staff | Role::Admin, Some(_), _) => {
                return Err(Problem::field("customer_id", "is only for a customer"));
            }
            _ => {}
        }
        // The inviter must see the customer: the orders service decides,
        // with the inviter's own token (another tenant's is 404).
        if let Some(c) = inv.customer_id {
            let req = self
                .peers
                .request(who, ord::GetCustomerRequest { id: c.to_string() })?;
            self.peers
                .orders
                .clone()
                .get_customer(req)
                .await
                .map_err(|s| Problem::from_status("orders", &s).renamed("id", "customer_id"))?;
        }
        let id = Uuid::now_v7();
        let mut tx = self.pool.begin().await.map_err(internal)?;
        let row = sqlx::query_as::<_, Row>(
            "insert into accounts (tenant_id, id, email, role, customer_id, status)
             values ($1, $2, $3, $4, $5, 'invited')
             on conflict (tenant_id, email) do nothing
             returning id, tenant_id, email, password_hash, role, customer_id, status, failed_attempts, locked_until",
        )
        .bind(tenant)
        .bind(id)
        .bind(&email)
        .bind(role.as_str())
        .bind(inv.customer_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(internal)?
        .ok_or_else(|| Problem::new(Kind::Conflict, "an account with this e-mail exists").with_field("email", "is taken"))?;
        // Staff become members of their residences before the invitation
        // leaves: orders checks the inviter may manage each.
        for residence in &inv.residences {
            let req = self.peers.request(
                who,
                ord::AddResidenceStaffRequest {
                    residence_id: residence.to_string(),
                    staff_subject: id.to_string(),
                    display_name: email.clone(),
                },
            )?;
            self.peers
                .orders
                .clone()
                .add_residence_staff(req)
                .await
                .map_err(|s| {
                    Problem::from_status("orders", &s).renamed("residence_id", "residences")
                })?;
        }
        let token = store(
            &mut tx,
            tenant,
            id,
            "invitation",
            chrono::Duration::days(INVITATION_DAYS),
        )
        .await
        .map_err(internal)?;
        let link = format!(
            "{}/invitation?token={token}",
            self.settings.public_url.trim_end_matches('/')
        );
        mail::enqueue(
            &mut tx,
            &Mail {
                to: email,
                subject: "Your account is ready".into(),
                body: format!(
                    "An account was opened for you. Choose your password within {INVITATION_DAYS} days: {link}\n\n\
                     Or send this token to POST /v1/auth/invitations/accept: {token}"
                ),
                attachment: None,
                about: format!("account:{id}:invitation"),
            },
        )
        .await
        .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        Ok(row.account())
    }
}
