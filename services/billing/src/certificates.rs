//! Annual tax certificates (attestation fiscale, seed 001): what a customer
//! paid in a calendar year for services eligible to the tax credit for
//! services à la personne, with the hours and the workers, issued once per
//! customer and year, kept as a PDF and e-mailed. Ours are computed from
//! billing's own records; the ERP's are recorded as it validated them.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use relais_domain::pdf::{Cell, Document, LEFT, RIGHT, euros};
use relais_platform::{
    context::{Ctx, timestamp},
    error::{Error, Result},
    mail::{Mail, MailAttachment},
    validate,
};
use relais_proto::{
    billing::{CertificateWorker, TaxCertificate},
    events::CertificateIssued,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{customers, invoices, pdfs::Seller};

/// A year is certified once it is over in Europe/Paris.
pub fn check_year(year: i32) -> Result<()> {
    let now = Utc::now().with_timezone(&chrono_tz::Europe::Paris).year();
    if year < 2000 {
        return Err(Error::invalid("year", "is not a year of the service"));
    }
    if year >= now {
        return Err(Error::invalid(
            "year",
            format!("{year} is not over: a certificate covers a whole calendar year"),
        ));
    }
    Ok(())
}

fn year_bounds(year: i32) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let jan = |y: i32| {
        NaiveDate::from_ymd_opt(y, 1, 1).ok_or_else(|| Error::invalid("year", "is out of range"))
    };
    Ok((
        invoices::month_bounds(jan(year)?)?.0,
        invoices::month_bounds(jan(year + 1)?)?.0,
    ))
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    number: String,
    customer_id: Uuid,
    customer_name: String,
    year: i32,
    amount_paid_cents: i64,
    minutes: i32,
    workers: serde_json::Value,
    origin: String,
    issued_at: DateTime<Utc>,
}

const COLS: &str = "id, number, customer_id, customer_name, year, amount_paid_cents, minutes,
    workers, origin, issued_at";

#[derive(serde::Serialize, serde::Deserialize)]
struct WorkerJson {
    worker_id: String,
    name: String,
    minutes: i32,
}

impl From<Row> for TaxCertificate {
    fn from(r: Row) -> Self {
        let workers: Vec<WorkerJson> = serde_json::from_value(r.workers).unwrap_or_default();
        TaxCertificate {
            id: r.id.to_string(),
            number: r.number,
            customer_id: r.customer_id.to_string(),
            customer_name: r.customer_name,
            year: r.year,
            amount_paid: validate::money_out(r.amount_paid_cents),
            minutes: r.minutes,
            workers: workers
                .into_iter()
                .map(|w| CertificateWorker {
                    worker_id: w.worker_id,
                    name: w.name,
                    minutes: w.minutes,
                })
                .collect(),
            origin: r.origin,
            issued_at: Some(timestamp(r.issued_at)),
        }
    }
}

async fn find(
    conn: &mut PgConnection,
    tenant: Uuid,
    customer: Uuid,
    year: i32,
) -> Result<Option<TaxCertificate>> {
    let row: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from tax_certificates where tenant_id = $1 and customer_id = $2 and year = $3"
    )))
    .bind(tenant)
    .bind(customer)
    .bind(year)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(TaxCertificate::from))
}

/// Issues the customer's certificate for `year` from what billing knows,
/// or returns the one already issued.
pub async fn issue(
    conn: &mut PgConnection,
    ctx: &Ctx,
    seller: &Seller,
    customer: Uuid,
    year: i32,
) -> Result<TaxCertificate> {
    check_year(year)?;
    // One at a time per customer: two concurrent requests issue one.
    sqlx::query("select pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(format!("certificate:{}:{customer}:{year}", ctx.tenant))
        .execute(&mut *conn)
        .await?;
    if let Some(existing) = find(conn, ctx.tenant, customer, year).await? {
        return Ok(existing);
    }
    let (name, _) = customers::addressee(conn, ctx.tenant, customer)
        .await?
        .ok_or_else(|| Error::not_found(format!("customer {customer}")))?;
    let (from, to) = year_bounds(year)?;
    // Paid in the year (by card or transfer: the shop takes no cash) for
    // eligible services, less the eligible share of credit notes issued
    // in the year on paid invoices.
    let (paid, credited): (i64, i64) = sqlx::query_as(
        "select
            (select coalesce(sum(l.total_excl_vat_cents + l.vat_cents), 0)::bigint
             from invoices i join invoice_lines l on l.tenant_id = i.tenant_id and l.invoice_id = i.id
             where i.tenant_id = $1 and i.customer_id = $2 and i.kind = 'invoice'
               and i.status = 'paid' and i.paid_at >= $3 and i.paid_at < $4 and l.tax_credit),
            (select coalesce(round(sum(c.total_incl_vat_cents::numeric * e.eligible
                                      / nullif(i.total_incl_vat_cents, 0))), 0)::bigint
             from invoices c
             join invoices i on i.tenant_id = c.tenant_id and i.id = c.credited_invoice_id
             join lateral (select coalesce(sum(l.total_excl_vat_cents + l.vat_cents), 0) as eligible
                           from invoice_lines l
                           where l.tenant_id = i.tenant_id and l.invoice_id = i.id and l.tax_credit) e
               on true
             where c.tenant_id = $1 and c.customer_id = $2 and c.kind = 'credit_note'
               and i.status = 'paid' and c.validated_at >= $3 and c.validated_at < $4)",
    )
    .bind(ctx.tenant)
    .bind(customer)
    .bind(from)
    .bind(to)
    .fetch_one(&mut *conn)
    .await?;
    let amount = (paid - credited).max(0);
    let workers: Vec<(Option<Uuid>, Option<String>, i64)> = sqlx::query_as(
        "select d.worker_id, w.name, sum(d.actual_minutes)::bigint
         from done_interventions d
         left join workers w on w.tenant_id = d.tenant_id and w.id = d.worker_id
         join bookings b on b.tenant_id = d.tenant_id and b.order_id = d.order_id and b.tax_credit
         where d.tenant_id = $1 and d.customer_id = $2 and d.started_at >= $3 and d.started_at < $4
         group by d.worker_id, w.name order by w.name nulls last",
    )
    .bind(ctx.tenant)
    .bind(customer)
    .bind(from)
    .bind(to)
    .fetch_all(&mut *conn)
    .await?;
    if amount == 0 && workers.is_empty() {
        return Err(Error::FailedPrecondition(format!(
            "nothing eligible to the tax credit was paid by customer {customer} in {year}"
        )));
    }
    let workers: Vec<WorkerJson> = workers
        .into_iter()
        .map(|(id, name, minutes)| WorkerJson {
            worker_id: id.map(|i| i.to_string()).unwrap_or_default(),
            name: name.unwrap_or_else(|| "Intervenant".into()),
            minutes: i32::try_from(minutes).unwrap_or(i32::MAX),
        })
        .collect();
    let number = invoices::next_number(conn, ctx.tenant, "AF", Utc::now()).await?;
    store(
        conn, ctx, seller, &number, customer, &name, year, amount, workers,
    )
    .await
}

/// A certificate validated in the ERP, as it sent it.
pub struct ErpCertificate<'a> {
    pub number: &'a str,
    pub customer: Uuid,
    pub year: i32,
    pub amount_cents: i64,
    pub workers: Vec<CertificateWorker>,
}

pub async fn record_erp(
    conn: &mut PgConnection,
    ctx: &Ctx,
    seller: &Seller,
    erp: ErpCertificate<'_>,
) -> Result<TaxCertificate> {
    check_year(erp.year)?;
    let existing: Option<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from tax_certificates where tenant_id = $1 and number = $2"
    )))
    .bind(ctx.tenant)
    .bind(erp.number)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(row) = existing {
        return Ok(row.into());
    }
    if let Some(other) = find(conn, ctx.tenant, erp.customer, erp.year).await? {
        return Err(Error::FailedPrecondition(format!(
            "customer {} already has the certificate {} for {}",
            erp.customer, other.number, erp.year
        )));
    }
    let (name, _) = customers::addressee(conn, ctx.tenant, erp.customer)
        .await?
        .ok_or_else(|| Error::not_found(format!("customer {}", erp.customer)))?;
    let workers = erp
        .workers
        .into_iter()
        .map(|w| WorkerJson {
            worker_id: w.worker_id,
            name: w.name,
            minutes: w.minutes,
        })
        .collect();
    store(
        conn,
        ctx,
        seller,
        erp.number,
        erp.customer,
        &name,
        erp.year,
        erp.amount_cents,
        workers,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn store(
    conn: &mut PgConnection,
    ctx: &Ctx,
    seller: &Seller,
    number: &str,
    customer: Uuid,
    name: &str,
    year: i32,
    amount: i64,
    workers: Vec<WorkerJson>,
) -> Result<TaxCertificate> {
    let minutes = workers
        .iter()
        .try_fold(0_i32, |sum, w| sum.checked_add(w.minutes))
        .ok_or_else(|| Error::invalid("minutes", "the workers' minutes add up beyond a year"))?;
    let (_, address) = customers::addressee(conn, ctx.tenant, customer)
        .await?
        .unwrap_or_default();
    let id = Uuid::now_v7();
    let certificate = TaxCertificate {
        id: id.to_string(),
        number: number.to_owned(),
        customer_id: customer.to_string(),
        customer_name: name.to_owned(),
        year,
        amount_paid: validate::money_out(amount),
        minutes,
        workers: workers
            .iter()
            .map(|w| CertificateWorker {
                worker_id: w.worker_id.clone(),
                name: w.name.clone(),
                minutes: w.minutes,
            })
            .collect(),
        origin: ctx.origin.clone(),
        issued_at: Some(timestamp(Utc::now())),
    };
    let pdf = render(seller, &certificate, &address);
    let file_name = format!("attestation-fiscale-{year}-{number}.pdf");
    sqlx::query(
        "insert into tax_certificates (tenant_id, id, number, customer_id, customer_name, year,
             amount_paid_cents, minutes, workers, origin, file_name, document)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(ctx.tenant)
    .bind(id)
    .bind(number)
    .bind(customer)
    .bind(name)
    .bind(year)
    .bind(amount)
    .bind(minutes)
    .bind(serde_json::to_value(&workers).unwrap_or_default())
    .bind(&ctx.origin)
    .bind(&file_name)
    .bind(&pdf)
    .execute(&mut *conn)
    .await?;
    let meta = ctx.meta(id, 1);
    ctx.emit(
        conn,
        "certificate",
        "issued",
        &meta,
        &CertificateIssued {
            meta: Some(meta.clone()),
            certificate: Some(certificate.clone()),
        },
    )
    .await?;
    customers::mail(
        conn,
        ctx.tenant,
        customer,
        "",
        Mail {
            subject: format!("Votre attestation fiscale {year}"),
            body: format!(
                "Bonjour {name},\n\nVeuillez trouver ci-jointe votre attestation fiscale pour l'année {year} : \
                 {} payés pour des services à la personne ouvrant droit au crédit d'impôt. \
                 Elle est aussi disponible dans votre compte.\n\n{}",
                euros(amount),
                seller.name
            ),
            attachment: Some(MailAttachment {
                name: file_name,
                content_type: "application/pdf".into(),
                bytes: pdf,
            }),
            about: format!("certificate:{id}"),
            ..Default::default()
        },
    )
    .await?;
    Ok(certificate)
}

fn hours(minutes: i32) -> String {
    format!("{} h {:02}", minutes / 60, minutes % 60)
}

fn render(seller: &Seller, c: &TaxCertificate, address: &str) -> Vec<u8> {
    let title = format!("Attestation fiscale {}", c.year);
    let mut doc = Document::new(title.clone(), format!("{} · {}", seller.name, c.number));
    doc.row(11.0, &[Cell::left(LEFT, &seller.name).bold()]);
    for line in seller.address.lines() {
        doc.row(9.0, &[Cell::left(LEFT, line)]);
    }
    doc.row(7.5, &[Cell::left(LEFT, &seller.legal)]);
    doc.gap(14.0);
    doc.row(
        18.0,
        &[
            Cell::left(LEFT, &title).bold(),
            Cell::left(330.0, &c.customer_name).bold(),
        ],
    );
    let lines: Vec<&str> = address.lines().collect();
    let left = [format!("N° {}", c.number)];
    for i in 0..lines.len().max(1) {
        doc.row(
            9.5,
            &[
                Cell::left(LEFT, left.get(i).cloned().unwrap_or_default()),
                Cell::left(330.0, lines.get(i).copied().unwrap_or_default()),
            ],
        );
    }
    doc.gap(18.0);
    doc.paragraph(
        10.0,
        &format!(
            "{} certifie que {} a bénéficié à son domicile, du 1er janvier au 31 décembre {}, \
             de services à la personne ouvrant droit à l'avantage fiscal prévu à l'article 199 \
             sexdecies du code général des impôts.",
            seller.name, c.customer_name, c.year
        ),
    );
    doc.gap(10.0);
    let amount = c.amount_paid.as_ref().map_or(0, |m| m.amount_cents);
    doc.row(
        10.0,
        &[
            Cell::left(LEFT, "Montant payé (hors espèces)"),
            Cell::right(RIGHT, euros(amount)).bold(),
        ],
    );
    doc.row(
        10.0,
        &[
            Cell::left(LEFT, "Nombre d'heures d'intervention"),
            Cell::right(RIGHT, hours(c.minutes)).bold(),
        ],
    );
    doc.gap(12.0);
    doc.row(
        9.0,
        &[
            Cell::left(LEFT, "Intervenant").bold(),
            Cell::right(RIGHT, "Heures").bold(),
        ],
    );
    doc.rule();
    for w in &c.workers {
        doc.row(
            9.0,
            &[
                Cell::left(LEFT, &w.name),
                Cell::right(RIGHT, hours(w.minutes)),
            ],
        );
    }
    doc.rule();
    doc.gap(12.0);
    doc.paragraph(
        8.5,
        "Les sommes payées en espèces n'ouvrent pas droit à l'avantage fiscal. \
         Conservez cette attestation : elle justifie le montant déclaré.",
    );
    doc.finish()
}

/// A customer's certificates, newest year first.
pub async fn of_customer(
    conn: &mut PgConnection,
    tenant: Uuid,
    customer: Uuid,
) -> Result<Vec<TaxCertificate>> {
    let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "select {COLS} from tax_certificates where tenant_id = $1 and customer_id = $2
         order by year desc"
    )))
    .bind(tenant)
    .bind(customer)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(TaxCertificate::from).collect())
}

/// A certificate's customer and its PDF: (customer, file name, bytes).
pub async fn document(
    conn: &mut PgConnection,
    tenant: Uuid,
    id: Uuid,
) -> Result<Option<(Uuid, String, Vec<u8>)>> {
    Ok(sqlx::query_as(
        "select customer_id, file_name, document from tax_certificates
         where tenant_id = $1 and id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(conn)
    .await?)
}
