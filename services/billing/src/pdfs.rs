//! The PDF of a validated invoice or an issued credit note, made when it is
//! numbered and kept as sent (a document is never regenerated differently
//! later): seller, customer, number and dates, lines, VAT per rate, totals
//! and how it is paid.

use chrono::{DateTime, Utc};
use relais_domain::pdf::{Cell, Document, LEFT, RIGHT, euros};
use relais_platform::error::Result;
use relais_proto::{billing::Invoice, orders::PaymentMode};
use sqlx::PgConnection;
use uuid::Uuid;

/// Who issues the documents (RELAIS_SELLER_NAME / RELAIS_SELLER_ADDRESS /
/// RELAIS_SELLER_LEGAL for the legal identifiers line).
#[derive(Clone, Debug)]
pub struct Seller {
    pub name: String,
    pub address: String,
    pub legal: String,
}

fn cents(m: Option<&relais_proto::types::Money>) -> i64 {
    m.map_or(0, |m| m.amount_cents)
}

fn date(ts: Option<&prost_types::Timestamp>) -> String {
    ts.and_then(|t| DateTime::<Utc>::from_timestamp(t.seconds, 0))
        .map(|t| {
            t.with_timezone(&chrono_tz::Europe::Paris)
                .format("%d/%m/%Y")
                .to_string()
        })
        .unwrap_or_default()
}

fn rate(bp: i32) -> String {
    let s = format!("{},{:02} %", bp / 100, bp % 100);
    s.replace(",00 %", " %")
}

/// The invoice (or credit note) as a PDF; `customer` is its addressee
/// block (name, then address lines), `credited` the number it credits.
pub fn render(
    seller: &Seller,
    invoice: &Invoice,
    customer_address: &str,
    credited: Option<&str>,
) -> Vec<u8> {
    let credit_note = invoice.kind == "credit_note";
    let title = if credit_note {
        format!("Avoir {}", invoice.number)
    } else {
        format!("Facture {}", invoice.number)
    };
    let mut doc = Document::new(title.clone(), format!("{} · {}", seller.name, title));
    doc.row(11.0, &[Cell::left(LEFT, &seller.name).bold()]);
    for line in seller.address.lines() {
        doc.row(9.0, &[Cell::left(LEFT, line)]);
    }
    doc.row(7.5, &[Cell::left(LEFT, &seller.legal)]);
    doc.gap(14.0);
    let right_col = 330.0;
    doc.row(
        18.0,
        &[
            Cell::left(LEFT, &title).bold(),
            Cell::left(right_col, &invoice.customer_name).bold(),
        ],
    );
    let mut left_lines = vec![format!("Date : {}", date(invoice.validated_at.as_ref()))];
    if let Some(number) = credited {
        left_lines.push(format!("Avoir sur la facture {number}"));
    }
    if !invoice.period.is_empty() {
        left_lines.push(format!("Période : {}", invoice.period));
    }
    if !invoice.reason.is_empty() {
        left_lines.push(format!("Motif : {}", invoice.reason));
    }
    let right_lines: Vec<&str> = customer_address.lines().collect();
    for i in 0..left_lines.len().max(right_lines.len()) {
        doc.row(
            9.5,
            &[
                Cell::left(LEFT, left_lines.get(i).cloned().unwrap_or_default()).width(270.0),
                Cell::left(right_col, right_lines.get(i).copied().unwrap_or_default()),
            ],
        );
    }
    doc.gap(18.0);

    let (qty_x, unit_x, vat_x, total_x) = (345.0, 415.0, 465.0, RIGHT);
    doc.row(
        9.0,
        &[
            Cell::left(LEFT, "Désignation").bold(),
            Cell::right(qty_x, "Qté").bold(),
            Cell::right(unit_x, "PU HT").bold(),
            Cell::right(vat_x, "TVA").bold(),
            Cell::right(total_x, "Total HT").bold(),
        ],
    );
    doc.rule();
    for l in &invoice.lines {
        let mut designation = l.description.clone();
        if l.discount_bp > 0 {
            designation = format!("{designation} (remise {})", rate(l.discount_bp));
        }
        doc.row(
            9.0,
            &[
                Cell::left(LEFT, designation).width(qty_x - LEFT - 30.0),
                Cell::right(qty_x, l.quantity.to_string()),
                Cell::right(unit_x, euros(cents(l.unit_price.as_ref()))),
                Cell::right(vat_x, rate(l.vat_rate_bp)),
                Cell::right(total_x, euros(cents(l.total_excl_vat.as_ref()))),
            ],
        );
    }
    doc.rule();
    doc.gap(6.0);
    let label_x = 440.0;
    for v in &invoice.vat_breakdown {
        doc.row(
            9.0,
            &[
                Cell::right(
                    label_x,
                    format!(
                        "TVA {} sur {}",
                        rate(v.vat_rate_bp),
                        euros(cents(v.base.as_ref()))
                    ),
                ),
                Cell::right(total_x, euros(cents(v.vat.as_ref()))),
            ],
        );
    }
    doc.row(
        9.5,
        &[
            Cell::right(label_x, "Total HT"),
            Cell::right(total_x, euros(cents(invoice.total_excl_vat.as_ref()))),
        ],
    );
    doc.row(
        9.5,
        &[
            Cell::right(label_x, "Total TVA"),
            Cell::right(total_x, euros(cents(invoice.total_vat.as_ref()))),
        ],
    );
    doc.row(
        11.0,
        &[
            Cell::right(label_x, "Total TTC").bold(),
            Cell::right(total_x, euros(cents(invoice.total_incl_vat.as_ref()))).bold(),
        ],
    );
    doc.gap(20.0);
    let payment = if credit_note {
        "Montant remboursé sur le moyen de paiement de la facture d'origine, ou déduit de votre prochaine facture."
            .to_owned()
    } else if invoice.paid_at_order {
        "Payée à la commande.".to_owned()
    } else {
        match PaymentMode::try_from(invoice.payment_mode).unwrap_or_default() {
            PaymentMode::Invoice => {
                "À régler à réception, par virement. Pas d'escompte pour paiement anticipé. \
                 Pénalités de retard : trois fois le taux d'intérêt légal ; indemnité forfaitaire \
                 pour frais de recouvrement : 40 €."
                    .to_owned()
            }
            PaymentMode::ResidenceMonthly => "Facturation mensuelle par la résidence.".to_owned(),
            _ => "Prélevée sur la carte enregistrée sur votre compte.".to_owned(),
        }
    };
    doc.paragraph(9.0, &payment);
    doc.finish()
}

/// Renders and keeps the document of `invoice` (validated or issued).
pub async fn store(
    conn: &mut PgConnection,
    tenant: Uuid,
    seller: &Seller,
    invoice: &Invoice,
) -> Result<()> {
    let id = Uuid::parse_str(&invoice.id).unwrap_or_default();
    let customer = Uuid::parse_str(&invoice.customer_id).unwrap_or_default();
    let address: Option<String> =
        sqlx::query_scalar("select address from customers where tenant_id = $1 and id = $2")
            .bind(tenant)
            .bind(customer)
            .fetch_optional(&mut *conn)
            .await?;
    let credited: Option<String> = match Uuid::parse_str(&invoice.credited_invoice_id) {
        Ok(c) => {
            sqlx::query_scalar("select number from invoices where tenant_id = $1 and id = $2")
                .bind(tenant)
                .bind(c)
                .fetch_optional(&mut *conn)
                .await?
        }
        Err(_) => None,
    };
    let bytes = render(
        seller,
        invoice,
        &address.unwrap_or_default(),
        credited.as_deref(),
    );
    sqlx::query(
        "insert into documents (tenant_id, invoice_id, file_name, content) values ($1, $2, $3, $4)
         on conflict (tenant_id, invoice_id) do nothing",
    )
    .bind(tenant)
    .bind(id)
    .bind(format!("{}.pdf", invoice.number))
    .bind(bytes)
    .execute(conn)
    .await?;
    Ok(())
}

/// The stored document of an invoice: (file name, PDF).
pub async fn load(
    conn: &mut PgConnection,
    tenant: Uuid,
    invoice: Uuid,
) -> Result<Option<(String, Vec<u8>)>> {
    Ok(sqlx::query_as(
        "select file_name, content from documents where tenant_id = $1 and invoice_id = $2",
    )
    .bind(tenant)
    .bind(invoice)
    .fetch_optional(conn)
    .await?)
}
