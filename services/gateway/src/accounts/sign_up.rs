//! Sign-up: a customer of the shop opens their account, which creates
//! them in the orders service; and the demo's accounts, made as they are.

use relais_platform::auth::Role;
use relais_proto::orders as ord;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Accounts, Issued, Row, email, internal, passwords};
use crate::problem::{Kind, Problem};

/// Sign-up's fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignUp {
    /// The company (tenant) whose shop this is: the booking site knows it.
    pub tenant: Uuid,
    pub email: String,
    pub password: String,
    pub first_name: String,
    pub last_name: String,
    #[serde(default)]
    pub phone: String,
    /// Where the services are done and the invoices go.
    pub billing_address: crate::model::orders::Address,
}

fn name(field: &str, value: &str) -> Result<String, Problem> {
    let v = value.trim();
    if v.is_empty() {
        return Err(Problem::field(field, "is required"));
    }
    if v.chars().count() > 100 || v.chars().any(char::is_control) {
        return Err(Problem::field(
            field,
            "must be at most 100 characters, without control characters",
        ));
    }
    Ok(v.to_owned())
}

impl Accounts {
    /// Creates a customer and their account, and signs them in. Signing up
    /// again with the same e-mail and the right password (a retry whose
    /// answer was lost) signs in to the account the first made.
    pub async fn sign_up(
        &self,
        req: SignUp,
        idempotency_key: Option<&str>,
    ) -> Result<(Issued, bool), Problem> {
        let email = email("email", &req.email)?;
        let first = name("first_name", &req.first_name)?;
        let last = name("last_name", &req.last_name)?;
        passwords::check_new("password", &req.password, &email)?;
        if req.phone.chars().count() > 40 {
            return Err(Problem::field("phone", "must be at most 40 characters"));
        }
        if self.find(req.tenant, &email).await?.is_some() {
            return match self.sign_in(req.tenant, &email, &req.password).await {
                Ok(issued) => Ok((issued, false)),
                Err(p) if p.status() == axum::http::StatusCode::UNAUTHORIZED => Err(Problem::new(
                    Kind::Conflict,
                    "an account with this e-mail exists: sign in, or reset the password",
                )
                .with_field("email", "is taken")),
                Err(p) => Err(p),
            };
        }
        let id = Uuid::now_v7();
        let hash = self.hasher.hash(&req.password).await.map_err(internal)?;
        let key = format!("sign-up:{}", idempotency_key.unwrap_or(&id.to_string()));
        let mut call = relais_platform::grpc::service_request(
            &self.auth,
            req.tenant,
            crate::config::SERVICE,
            ord::CreateCustomerRequest {
                idempotency_key: key,
                fields: Some(ord::CustomerFields {
                    first_name: first,
                    last_name: last,
                    email: email.clone(),
                    phone: req.phone.trim().to_owned(),
                    billing_address: Some(req.billing_address.into_pb()),
                    ..Default::default()
                }),
            },
        )
        .map_err(internal)?;
        call.set_timeout(self.peers.deadline);
        let customer = self
            .peers
            .orders
            .clone()
            .create_customer(call)
            .await
            .map_err(|s| Problem::from_status("orders", &s).unprefixed("fields."))?
            .into_inner()
            .customer
            .and_then(|c| Uuid::parse_str(&c.id).ok())
            .ok_or_else(|| internal("orders answered no customer"))?;
        let row = sqlx::query_as::<_, Row>(
            "insert into accounts (tenant_id, id, email, password_hash, role, customer_id, status)
             values ($1, $2, $3, $4, 'customer', $5, 'active')
             on conflict (tenant_id, email) do nothing
             returning id, tenant_id, email, password_hash, role, customer_id, status, failed_attempts, locked_until",
        )
        .bind(req.tenant)
        .bind(id)
        .bind(&email)
        .bind(&hash)
        .bind(customer)
        .fetch_optional(&self.pool)
        .await
        .map_err(internal)?
        .ok_or_else(|| {
            Problem::new(Kind::Conflict, "an account with this e-mail was just created")
                .with_field("email", "is taken")
        })?;
        Ok((self.issue(&row).await?, true))
    }

    /// An active account with this password (for `relais dev`'s demo
    /// accounts and tests): created, or its password and customer set.
    pub async fn ensure(
        &self,
        tenant: Uuid,
        raw_email: &str,
        password: &str,
        role: Role,
        customer_id: Option<Uuid>,
    ) -> anyhow::Result<Uuid> {
        let email = email("email", raw_email).map_err(|p| anyhow::anyhow!("{p:?}"))?;
        let hash = self.hasher.hash(password).await?;
        let (id,): (Uuid,) = sqlx::query_as(
            "insert into accounts (tenant_id, id, email, password_hash, role, customer_id, status)
             values ($1, $2, $3, $4, $5, $6, 'active')
             on conflict (tenant_id, email) do update set password_hash = excluded.password_hash,
                 role = excluded.role, customer_id = excluded.customer_id, status = 'active',
                 failed_attempts = 0, locked_until = null, updated_at = now()
             returning id",
        )
        .bind(tenant)
        .bind(Uuid::now_v7())
        .bind(&email)
        .bind(&hash)
        .bind(role.as_str())
        .bind(customer_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }
}
