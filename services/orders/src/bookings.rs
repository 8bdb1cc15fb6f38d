//! Service bookings (seeds 000/001): a service at an address on a one-time
//! or recurring schedule, with a chosen worker or any qualified one, priced
//! from the service's hourly rate, or paid with the hours of a pack
//! ([`crate::pack_purchases`]).

use chrono::Utc;
use relais_domain::{money, schedule::Schedule};
use relais_platform::{
    auth::{Caller, Role},
    context::Ctx,
    error::{Error, Result, Violations},
    validate,
};
use relais_proto::{
    orders::{Order, OrderStatus, PaymentMode, PlaceBookingRequest},
    types::Money,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    access::Scope,
    catalogue::Catalogue,
    customers,
    orders::{
        self, Buyer, NewLine, NewOrder, Who, catalogue_error, duration_label, duration_label_long,
        required_id,
    },
    pack_room::{paid_pack, room_on},
    planning::Planning,
    stored_orders::{BookingDetail, PackDetail},
};

const MAX_NOTE: usize = 2000;

pub struct Booking {
    who: Who,
    service_id: Uuid,
    address: Option<relais_proto::orders::Address>,
    schedule: Schedule,
    worker_id: Option<Uuid>,
    payment_mode: PaymentMode,
    hour_pack_order_id: Option<Uuid>,
    note: String,
    confirmation_email: String,
    expected_total: Option<Money>,
    allow_unassigned: bool,
}

impl Booking {
    /// `horizon_days`: how far ahead bookings are taken
    /// (`RELAIS_BOOKING_HORIZON_DAYS`).
    pub fn parse(r: &PlaceBookingRequest, horizon_days: u32) -> Result<Self> {
        let mut v = Violations::new();
        let who = Who::parse(&mut v, &r.customer_id, r.new_customer.as_ref());
        let service_id = required_id(&mut v, "service_id", &r.service_id);
        if r.address.is_some() {
            customers::address(&mut v, "address", r.address.as_ref());
        }
        let schedule = Schedule::parse(
            &mut v,
            "schedule",
            r.schedule.as_ref(),
            Utc::now(),
            horizon_days,
        );
        let worker_id = validate::optional_id(&mut v, "worker_id", &r.worker_id);
        // Unspecified: the customer's open hour pack pays when one covers
        // the booking (seed 002: later orders attach to the pack until it
        // is used up); the placement says so when none does.
        let payment_mode =
            PaymentMode::try_from(r.payment_mode).unwrap_or(PaymentMode::Unspecified);
        let hour_pack_order_id =
            validate::optional_id(&mut v, "hour_pack_order_id", &r.hour_pack_order_id);
        v.check(
            payment_mode == PaymentMode::HourPack && r.hour_pack_order_id.is_empty(),
            "hour_pack_order_id",
            "is required to pay with an hour pack",
        );
        v.check(
            payment_mode != PaymentMode::HourPack && !r.hour_pack_order_id.is_empty(),
            "hour_pack_order_id",
            "is only for PAYMENT_MODE_HOUR_PACK",
        );
        v.check(
            r.note.chars().count() > MAX_NOTE,
            "note",
            format!("at most {MAX_NOTE} characters"),
        );
        v.check(
            !r.terms_accepted,
            "terms_accepted",
            "the terms and conditions must be accepted",
        );
        let confirmation_email =
            customers::email(&mut v, "confirmation_email", &r.confirmation_email);
        let expected_total = orders::expected_total(
            &mut v,
            "expected_total_incl_vat",
            r.expected_total_incl_vat.as_ref(),
        );
        v.into_result()?;
        let (Some(who), Some(service_id), Some(schedule)) = (who, service_id, schedule) else {
            return Err(Error::invalid("schedule", "is required"));
        };
        Ok(Self {
            who,
            service_id,
            address: r.address.clone(),
            schedule,
            worker_id,
            payment_mode,
            hour_pack_order_id,
            note: r.note.trim().to_owned(),
            confirmation_email,
            expected_total,
            allow_unassigned: r.allow_unassigned,
        })
    }
}

pub async fn place(
    conn: &mut PgConnection,
    ctx: &Ctx,
    caller: &Caller,
    scope: &Scope,
    (catalogue, planning): (&Catalogue, &Planning),
    req: Booking,
) -> Result<Order> {
    let customer_id = req.who.id(conn, ctx, scope).await?;
    let buyer = Buyer::resolve(
        conn,
        ctx.tenant,
        scope,
        customer_id,
        &req.confirmation_email,
        req.payment_mode,
    )
    .await?;
    let service = catalogue
        .prices(ctx.tenant, &buyer.fields.customer_family, &[req.service_id])
        .await
        .map_err(catalogue_error("service_id", "service"))?
        .pop()
        .ok_or_else(|| Error::invalid("service_id", "no such service in the catalogue"))?;
    let mut v = Violations::new();
    v.check(
        service.kind != "service",
        "service_id",
        "is a product: order it, it cannot be booked",
    );
    v.check(
        !service.active,
        "service_id",
        format!("{} is no longer offered", service.reference),
    );
    let address = req.address.clone().unwrap_or_else(|| buyer.address());
    if req.address.is_none() {
        let mut on_file = Violations::new();
        customers::address(&mut on_file, "address", Some(&address));
        v.check(
            !on_file.is_empty(),
            "address",
            "the customer has no address on file: give the address of the intervention",
        );
    }
    v.into_result()?;
    let dates = req.schedule.dates();
    let occurrences_at = req.schedule.occurrences();
    if let Some(worker) = req.worker_id {
        planning
            .check_worker(ctx.tenant, worker, req.service_id, &service.reference)
            .await?;
        // A one-time booking with a chosen worker is refused at once when
        // they are not free; a series is planned around their calendar
        // (occurrences they cannot take stay unassigned, with the reason).
        if let [slot] = occurrences_at.as_slice()
            && !planning
                .is_free(ctx.tenant, worker, req.service_id, *slot)
                .await?
        {
            return Err(Error::invalid(
                "worker_id",
                "the chosen worker is not free then (away, booked, or outside their hours): choose another time, another worker, or any",
            ));
        }
    }
    staffed(
        caller,
        planning,
        ctx.tenant,
        (req.service_id, req.worker_id, req.allow_unassigned),
        (&req.schedule, &occurrences_at),
    )
    .await?;
    let mut payment_mode = req.payment_mode;
    let mut hour_pack_order_id = req.hour_pack_order_id;
    let needed =
        i64::from(req.schedule.duration_minutes) * i64::try_from(dates.len()).unwrap_or(i64::MAX);
    // The pack that pays, locked, with the minutes it still has free.
    let mut paying: Option<(PackDetail, i64)> = None;
    if payment_mode == PaymentMode::Unspecified {
        let mut short = Vec::new();
        for p in planning.open_packs(ctx.tenant, buyer.id).await? {
            let Ok(pack_order) = Uuid::parse_str(&p.pack_order_id) else {
                continue;
            };
            let eligible = if p.eligible_service_ids.is_empty() {
                p.vat_rate_bp == service.vat_rate_bp
            } else {
                p.eligible_service_ids.contains(&req.service_id.to_string())
            };
            if !eligible {
                continue;
            }
            // A pack the ledger still lists but whose purchase was cancelled
            // since is skipped, not an error: another may pay.
            let pack = match paid_pack(conn, ctx.tenant, buyer.id, pack_order).await {
                Ok(pack) => pack,
                Err(Error::InvalidArgument(_)) => continue,
                Err(e) => return Err(e),
            };
            let room = room_on(conn, planning, ctx.tenant, buyer.id, pack_order, &pack).await?;
            if room >= needed {
                payment_mode = PaymentMode::HourPack;
                hour_pack_order_id = Some(pack_order);
                paying = Some((pack, room));
                break;
            }
            short.push(format!(
                "\"{}\" has {} left",
                pack.name,
                duration_label_long(room.max(0))
            ));
        }
        if paying.is_none() {
            return Err(Error::invalid(
                "payment_mode",
                if short.is_empty() {
                    "choose card, invoice, monthly residence billing or an hour pack (no open pack of the customer covers this booking)".to_owned()
                } else {
                    format!(
                        "choose card, invoice or monthly residence billing: this booking needs {} and the customer's open packs do not hold it ({}); a pack pays for whole bookings only",
                        duration_label_long(needed),
                        short.join(", ")
                    )
                },
            ));
        }
    }
    let occurrences = i32::try_from(dates.len()).unwrap_or(i32::MAX);
    let minutes = req.schedule.duration_minutes;
    let (first, last) = (
        dates.first().and_then(|d| req.schedule.start_of(*d)),
        dates.last().and_then(|d| {
            req.schedule
                .start_of(*d)
                .or_else(|| req.schedule.start_of(d.succ_opt()?))
        }),
    );
    let (Some(first_start), Some(last_start)) = (first, last) else {
        return Err(Error::invalid(
            "schedule",
            "its occurrences cannot be placed in the time zone",
        ));
    };

    let mut unit_cents = money::for_minutes(
        service
            .price
            .as_ref()
            .map(|m| m.amount_cents)
            .unwrap_or_default(),
        minutes,
    )
    .ok_or_else(|| Error::invalid("schedule.duration_minutes", money::too_large()))?;
    let mut name = format!("{} ({})", service.name, duration_label(minutes));
    if let Some(pack_order) = hour_pack_order_id {
        let (pack, room) = match paying.take() {
            Some(checked) => checked,
            None => {
                let pack = paid_pack(conn, ctx.tenant, buyer.id, pack_order).await?;
                let room = room_on(conn, planning, ctx.tenant, buyer.id, pack_order, &pack).await?;
                (pack, room)
            }
        };
        let eligible = if pack.eligible_service_ids.is_empty() {
            pack.vat_rate_bp == service.vat_rate_bp
        } else {
            pack.eligible_service_ids.contains(&req.service_id)
        };
        if !eligible {
            return Err(Error::invalid(
                "hour_pack_order_id",
                format!(
                    "the pack \"{}\" does not cover {}",
                    pack.name, service.reference
                ),
            ));
        }
        // A pack pays for whole bookings: splitting one between the pack and
        // a card would leave an occurrence half paid by each, which neither
        // the ledger (it counts whole interventions) nor an invoice (one
        // payment mode per order) can hold. The customer is told what is
        // left, to book that much, or to pay this booking another way.
        if needed > room {
            let room = room.max(0);
            return Err(Error::invalid(
                "hour_pack_order_id",
                if room == 0 {
                    format!(
                        "the pack \"{}\" is used up (all its {} are planned or consumed): the booking needs {}; pay it by card or buy another pack",
                        pack.name,
                        duration_label_long(i64::from(pack.duration_minutes)),
                        duration_label_long(needed),
                    )
                } else {
                    format!(
                        "the booking needs {} but the pack \"{}\" has {} left of {}: book at most {} with it, or pay this booking by card (a pack pays for whole bookings only)",
                        duration_label_long(needed),
                        pack.name,
                        duration_label_long(room),
                        duration_label_long(i64::from(pack.duration_minutes)),
                        duration_label_long(room),
                    )
                },
            ));
        }
        // The hours were paid with the pack; the ledger (planning) counts them.
        unit_cents = 0;
        name = format!("{name}, pack \"{}\"", pack.name);
    }

    let detail = BookingDetail {
        service_id: req.service_id,
        service_code: service.reference.clone(),
        schedule: req.schedule,
        worker_id: req.worker_id,
        occurrences,
        first_start,
        last_start,
        hour_pack_order_id,
        note: req.note,
        tax_credit_eligible: service.tax_credit_eligible,
    };
    orders::insert(
        conn,
        ctx,
        caller,
        NewOrder {
            kind: "booking",
            status: OrderStatus::Placed,
            buyer,
            ship_to: address,
            shipping_method: String::new(),
            payment_mode,
            lines: vec![NewLine {
                item_id: req.service_id,
                reference: service.reference,
                name,
                quantity: occurrences,
                unit_cents,
                vat_rate_bp: service.vat_rate_bp,
                discount_bp: 0,
                quantity_field: "schedule".into(),
            }],
            booking: Some(detail),
            hour_pack: None,
            expected_total: req.expected_total,
        },
    )
    .await
}

type Slot = (chrono::DateTime<Utc>, chrono::DateTime<Utc>);

/// Refuses a booking an occurrence of which no qualified worker (the
/// chosen one, if any) is free for, saying which, why, and the next free
/// slots, rather than placing it to show "worker none" later. Staff and
/// admins may place it anyway with `allow_unassigned` (the office then
/// finds those occurrences in planning's unassigned list); the connector's
/// bookings come from the ERP, which has decided, and are never refused.
async fn staffed(
    caller: &Caller,
    planning: &Planning,
    tenant: Uuid,
    (service, worker, allow_unassigned): (Uuid, Option<Uuid>, bool),
    (schedule, occurrences): (&Schedule, &[Slot]),
) -> Result<()> {
    let staff = matches!(caller.role, Role::Staff | Role::Admin);
    if allow_unassigned && !staff {
        return Err(Error::invalid(
            "allow_unassigned",
            "is for staff: book a time a worker is free",
        ));
    }
    if allow_unassigned || matches!(caller.role, Role::Connector | Role::Service) {
        return Ok(());
    }
    let check = planning
        .check_slots(tenant, service, worker, occurrences)
        .await?;
    let mut nobody = check
        .slots
        .iter()
        .zip(occurrences)
        .filter(|(c, _)| c.free_worker_ids.is_empty());
    let Some((first, (start, _))) = nobody.next() else {
        return Ok(());
    };
    let others = nobody.count();
    let tz: chrono_tz::Tz = schedule
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Europe::Paris);
    let local = |t: chrono::DateTime<Utc>| {
        t.with_timezone(&tz)
            .format("%A %-d %B %Y at %H:%M")
            .to_string()
    };
    let mut why = format!("nobody can come on {}: {}", local(*start), first.reason);
    if others > 0 {
        why.push_str(&format!(
            " (nor for {others} other occurrence{} of the series)",
            if others > 1 { "s" } else { "" }
        ));
    }
    let next: Vec<String> = check
        .next_free
        .iter()
        .filter_map(|s| s.start.as_ref())
        .filter_map(|t| chrono::DateTime::from_timestamp(t.seconds, 0))
        .map(local)
        .collect();
    if next.is_empty() {
        why.push_str("; no free slot in the next two weeks");
    } else {
        why.push_str(&format!("; free then: {}", next.join(", ")));
    }
    if staff {
        why.push_str("; staff may place it unassigned with allow_unassigned");
    }
    let field = if worker.is_some() {
        "worker_id"
    } else {
        "schedule"
    };
    Err(Error::invalid(field, why))
}
