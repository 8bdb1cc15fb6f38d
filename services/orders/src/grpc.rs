//! `relais.orders.v1.OrdersService`: authenticate, work out what the caller
//! may see, parse, run the domain function in a transaction with its
//! events, commit through the outbox.
//!
//! One file though it is past 500 lines: tonic wants the service as one
//! `impl` block, and each method is only the call's own checks (who may,
//! which fields) around one domain call. Split by method, every method
//! would become a forwarder to another file; the domain work is already
//! elsewhere (customers, residences, product_orders, bookings,
//! pack_purchases, lifecycle, reports, access, payment_methods).

use relais_platform::{
    auth::{self, Caller, Role},
    context::Ctx,
    error::{Error, Result},
    nats::Namespace,
    outbox::Outbox,
    validate,
    write::{Writer, cut_page, reply},
};
use relais_proto::orders::{self as pb, orders_service_server::OrdersService};
use sqlx::PgPool;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use std::pin::Pin;

use futures::Stream;

use crate::{
    SERVICE, access, bookings, catalogue::Catalogue, customers, lifecycle, pack_purchases,
    payment_methods, planning::Planning, product_orders, reports, residences, stored_orders,
};

type Reply<T> = std::result::Result<Response<T>, Status>;

/// Roles that manage residences and their staff.
const MANAGERS: &[Role] = &[Role::Admin, Role::Connector, Role::Service];

pub struct OrdersApi {
    pool: PgPool,
    writer: Writer,
    ns: Namespace,
    catalogue: Catalogue,
    planning: Planning,
    /// How far ahead bookings are taken, in days.
    booking_horizon_days: u32,
}

impl OrdersApi {
    pub fn new(
        pool: PgPool,
        outbox: Outbox,
        ns: Namespace,
        catalogue: Catalogue,
        planning: Planning,
        booking_horizon_days: u32,
    ) -> Self {
        Self {
            writer: Writer::new(pool.clone(), outbox),
            pool,
            ns,
            catalogue,
            planning,
            booking_horizon_days,
        }
    }

    fn ctx(&self, caller: &Caller) -> Ctx {
        Ctx::new(SERVICE, caller, &self.ns)
    }

    async fn scope(&self, caller: &Caller) -> Result<access::Scope> {
        let mut conn = self.pool.acquire().await?;
        access::scope(&mut conn, caller).await
    }
}

#[tonic::async_trait]
impl OrdersService for OrdersApi {
    async fn create_residence(
        &self,
        req: Request<pb::CreateResidenceRequest>,
    ) -> Reply<pb::CreateResidenceResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                caller.require(MANAGERS)?;
                let ctx = self.ctx(&caller);
                let r = req.get_ref();
                self.writer
                    .create_once(
                        &ctx.keys,
                        "CreateResidence",
                        &r.idempotency_key,
                        r,
                        async |tx| {
                            let residence = residences::create(tx, &ctx, r).await?;
                            Ok(pb::CreateResidenceResponse {
                                residence: Some(residence),
                            })
                        },
                    )
                    .await
            }
            .await,
        )
    }

    async fn get_residence(
        &self,
        req: Request<pb::GetResidenceRequest>,
    ) -> Reply<pb::GetResidenceResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let id = validate::id("id", &req.get_ref().id)?;
                let mut conn = self.pool.acquire().await?;
                let scope = access::scope(&mut conn, &caller).await?;
                let residence = residences::get(&mut conn, caller.tenant, &scope, id).await?;
                Ok(pb::GetResidenceResponse {
                    residence: Some(residence),
                })
            }
            .await,
        )
    }

    async fn list_residences(
        &self,
        req: Request<pb::ListResidencesRequest>,
    ) -> Reply<pb::ListResidencesResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let mut conn = self.pool.acquire().await?;
                let scope = access::scope(&mut conn, &caller).await?;
                let residences = residences::list(&mut conn, caller.tenant, &scope).await?;
                Ok(pb::ListResidencesResponse { residences })
            }
            .await,
        )
    }

    async fn add_residence_staff(
        &self,
        req: Request<pb::AddResidenceStaffRequest>,
    ) -> Reply<pb::AddResidenceStaffResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                caller.require(MANAGERS)?;
                let ctx = self.ctx(&caller);
                let r = req.get_ref();
                let residence = validate::id("residence_id", &r.residence_id)?;
                self.writer
                    .change(async |tx| {
                        residences::set_staff(
                            tx,
                            &ctx,
                            residence,
                            &r.staff_subject,
                            &r.display_name,
                            true,
                        )
                        .await?;
                        Ok(pb::AddResidenceStaffResponse {})
                    })
                    .await
            }
            .await,
        )
    }

    async fn remove_residence_staff(
        &self,
        req: Request<pb::RemoveResidenceStaffRequest>,
    ) -> Reply<pb::RemoveResidenceStaffResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                caller.require(MANAGERS)?;
                let ctx = self.ctx(&caller);
                let r = req.get_ref();
                let residence = validate::id("residence_id", &r.residence_id)?;
                self.writer
                    .change(async |tx| {
                        residences::set_staff(tx, &ctx, residence, &r.staff_subject, "", false)
                            .await?;
                        Ok(pb::RemoveResidenceStaffResponse {})
                    })
                    .await
            }
            .await,
        )
    }

    async fn list_residence_staff(
        &self,
        req: Request<pb::ListResidenceStaffRequest>,
    ) -> Reply<pb::ListResidenceStaffResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                caller.require(MANAGERS)?;
                let residence = validate::id("residence_id", &req.get_ref().residence_id)?;
                let mut conn = self.pool.acquire().await?;
                let staff = residences::staff(&mut conn, caller.tenant, residence).await?;
                Ok(pb::ListResidenceStaffResponse { staff })
            }
            .await,
        )
    }

    async fn create_customer(
        &self,
        req: Request<pb::CreateCustomerRequest>,
    ) -> Reply<pb::CreateCustomerResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let scope = self.scope(&caller).await?;
                let ctx = self.ctx(&caller);
                let r = req.get_ref();
                let input = customers::Input::parse(r.fields.as_ref())?;
                scope.may_place_in(input.residence_id)?;
                self.writer
                    .create_once(
                        &ctx.keys,
                        "CreateCustomer",
                        &r.idempotency_key,
                        r,
                        async |tx| {
                            let customer = customers::create(tx, &ctx, &scope, input).await?;
                            Ok(pb::CreateCustomerResponse {
                                customer: Some(customer),
                            })
                        },
                    )
                    .await
            }
            .await,
        )
    }

    async fn update_customer(
        &self,
        req: Request<pb::UpdateCustomerRequest>,
    ) -> Reply<pb::UpdateCustomerResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let scope = self.scope(&caller).await?;
                let ctx = self.ctx(&caller);
                let r = req.get_ref();
                let id = validate::id("id", &r.id)?;
                let input = customers::Input::parse(r.fields.as_ref())?;
                self.writer
                    .change(async |tx| {
                        let customer = customers::update(
                            tx,
                            &ctx,
                            &caller,
                            &scope,
                            id,
                            r.expected_version,
                            input,
                        )
                        .await?;
                        Ok(pb::UpdateCustomerResponse {
                            customer: Some(customer),
                        })
                    })
                    .await
            }
            .await,
        )
    }

    async fn get_customer(
        &self,
        req: Request<pb::GetCustomerRequest>,
    ) -> Reply<pb::GetCustomerResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let id = validate::id("id", &req.get_ref().id)?;
                let mut conn = self.pool.acquire().await?;
                let scope = access::scope(&mut conn, &caller).await?;
                let customer = customers::get(&mut conn, caller.tenant, &scope, id).await?;
                Ok(pb::GetCustomerResponse {
                    customer: Some(customer),
                })
            }
            .await,
        )
    }

    async fn list_customers(
        &self,
        req: Request<pb::ListCustomersRequest>,
    ) -> Reply<pb::ListCustomersResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let r = req.get_ref();
                let page = r.page.clone().unwrap_or_default();
                let residence_id = if r.residence_id.is_empty() {
                    None
                } else {
                    Some(validate::id("residence_id", &r.residence_id)?)
                };
                if r.query.chars().count() > validate::MAX_TEXT {
                    return Err(Error::invalid("query", "at most 200 characters"));
                }
                let filter = customers::Filter {
                    residence_id,
                    query: r.query.clone(),
                    after: validate::page_token(&page.page_token)?,
                    limit: validate::page_size(page.page_size)? + 1,
                };
                let mut conn = self.pool.acquire().await?;
                let scope = access::scope(&mut conn, &caller).await?;
                let items = customers::list(&mut conn, caller.tenant, &scope, &filter).await?;
                let (customers, next_page_token) = cut_page(items, filter.limit, |c| c.id.clone());
                Ok(pb::ListCustomersResponse {
                    customers,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn get_customer_payment_method(
        &self,
        req: Request<pb::GetCustomerPaymentMethodRequest>,
    ) -> Reply<pb::GetCustomerPaymentMethodResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                caller.require(payment_methods::ROLES)?;
                let customer = payment_methods::whose(&caller, &req.get_ref().customer_id)?;
                let mut conn = self.pool.acquire().await?;
                let scope = access::scope(&mut conn, &caller).await?;
                let card = payment_methods::get(&mut conn, caller.tenant, &scope, customer).await?;
                Ok(pb::GetCustomerPaymentMethodResponse {
                    payment_method: Some(card),
                })
            }
            .await,
        )
    }

    async fn set_customer_payment_method(
        &self,
        req: Request<pb::SetCustomerPaymentMethodRequest>,
    ) -> Reply<pb::SetCustomerPaymentMethodResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                caller.require(payment_methods::ROLES)?;
                let r = req.get_ref();
                let customer = payment_methods::whose(&caller, &r.customer_id)?;
                let reference = payment_methods::reference(&r.payment_method_ref)?;
                let scope = self.scope(&caller).await?;
                let ctx = self.ctx(&caller);
                self.writer
                    .change(async |tx| {
                        let card =
                            payment_methods::set(tx, &ctx, &scope, customer, Some(reference))
                                .await?;
                        Ok(pb::SetCustomerPaymentMethodResponse {
                            payment_method: Some(card),
                        })
                    })
                    .await
            }
            .await,
        )
    }

    async fn remove_customer_payment_method(
        &self,
        req: Request<pb::RemoveCustomerPaymentMethodRequest>,
    ) -> Reply<pb::RemoveCustomerPaymentMethodResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                caller.require(payment_methods::ROLES)?;
                let customer = payment_methods::whose(&caller, &req.get_ref().customer_id)?;
                let scope = self.scope(&caller).await?;
                let ctx = self.ctx(&caller);
                self.writer
                    .change(async |tx| {
                        let card = payment_methods::set(tx, &ctx, &scope, customer, None).await?;
                        Ok(pb::RemoveCustomerPaymentMethodResponse {
                            payment_method: Some(card),
                        })
                    })
                    .await
            }
            .await,
        )
    }

    async fn place_product_order(
        &self,
        req: Request<pb::PlaceProductOrderRequest>,
    ) -> Reply<pb::PlaceProductOrderResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let scope = self.scope(&caller).await?;
                let ctx = self.ctx(&caller);
                let r = req.get_ref();
                let parsed = product_orders::Request::parse(r)?;
                // The catalogue is asked inside the transaction that holds the
                // idempotency key, so a concurrent duplicate waits for this one
                // and replays its answer instead of pricing the order again.
                self.writer
                    .create_once(
                        &ctx.keys,
                        "PlaceProductOrder",
                        &r.idempotency_key,
                        r,
                        async |tx| {
                            let order = product_orders::place(
                                tx,
                                &ctx,
                                &caller,
                                &scope,
                                &self.catalogue,
                                parsed,
                            )
                            .await?;
                            Ok(pb::PlaceProductOrderResponse { order: Some(order) })
                        },
                    )
                    .await
            }
            .await,
        )
    }

    async fn get_order(&self, req: Request<pb::GetOrderRequest>) -> Reply<pb::GetOrderResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let id = validate::id("id", &req.get_ref().id)?;
                let mut conn = self.pool.acquire().await?;
                let scope = access::scope(&mut conn, &caller).await?;
                let order = stored_orders::get(&mut conn, caller.tenant, &scope, id).await?;
                Ok(pb::GetOrderResponse { order: Some(order) })
            }
            .await,
        )
    }

    async fn place_booking(
        &self,
        req: Request<pb::PlaceBookingRequest>,
    ) -> Reply<pb::PlaceBookingResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let scope = self.scope(&caller).await?;
                let ctx = self.ctx(&caller);
                let r = req.get_ref();
                let parsed = bookings::Booking::parse(r, self.booking_horizon_days)?;
                self.writer
                    .create_once(
                        &ctx.keys,
                        "PlaceBooking",
                        &r.idempotency_key,
                        r,
                        async |tx| {
                            let order = bookings::place(
                                tx,
                                &ctx,
                                &caller,
                                &scope,
                                (&self.catalogue, &self.planning),
                                parsed,
                            )
                            .await?;
                            Ok(pb::PlaceBookingResponse { order: Some(order) })
                        },
                    )
                    .await
            }
            .await,
        )
    }

    async fn place_hour_pack_order(
        &self,
        req: Request<pb::PlaceHourPackOrderRequest>,
    ) -> Reply<pb::PlaceHourPackOrderResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let scope = self.scope(&caller).await?;
                let ctx = self.ctx(&caller);
                let r = req.get_ref();
                let parsed = pack_purchases::PackPurchase::parse(r)?;
                self.writer
                    .create_once(
                        &ctx.keys,
                        "PlaceHourPackOrder",
                        &r.idempotency_key,
                        r,
                        async |tx| {
                            let order = pack_purchases::place_pack(
                                tx,
                                &ctx,
                                &caller,
                                &scope,
                                &self.catalogue,
                                parsed,
                            )
                            .await?;
                            Ok(pb::PlaceHourPackOrderResponse { order: Some(order) })
                        },
                    )
                    .await
            }
            .await,
        )
    }

    async fn change_order_status(
        &self,
        req: Request<pb::ChangeOrderStatusRequest>,
    ) -> Reply<pb::ChangeOrderStatusResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let scope = self.scope(&caller).await?;
                let ctx = self.ctx(&caller);
                let change = lifecycle::Change::parse(req.get_ref())?;
                self.writer
                    .change(async |tx| {
                        let order = lifecycle::change(tx, &ctx, &caller, &scope, change).await?;
                        Ok(pb::ChangeOrderStatusResponse { order: Some(order) })
                    })
                    .await
            }
            .await,
        )
    }

    async fn list_orders(
        &self,
        req: Request<pb::ListOrdersRequest>,
    ) -> Reply<pb::ListOrdersResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                let r = req.get_ref();
                let page = r.page.clone().unwrap_or_default();
                let limit = validate::page_size(page.page_size)? + 1;
                let after = validate::page_token(&page.page_token)?;
                let mut conn = self.pool.acquire().await?;
                let scope = access::scope(&mut conn, &caller).await?;
                let filter = reports::Filter::parse(r.filter.as_ref(), &scope)?;
                let items = reports::list(&mut conn, caller.tenant, &filter, after, limit).await?;
                let (orders, next_page_token) = cut_page(items, limit, |o| o.id.clone());
                Ok(pb::ListOrdersResponse {
                    orders,
                    next_page_token,
                })
            }
            .await,
        )
    }

    type ExportOrdersStream =
        Pin<Box<dyn Stream<Item = std::result::Result<pb::ExportOrdersResponse, Status>> + Send>>;

    async fn export_orders(
        &self,
        req: Request<pb::ExportOrdersRequest>,
    ) -> Reply<Self::ExportOrdersStream> {
        let (caller, filter) = reply(
            async {
                let caller = auth::caller(&req)?;
                let mut conn = self.pool.acquire().await?;
                let scope = access::scope(&mut conn, &caller).await?;
                let filter = reports::Filter::parse(req.get_ref().filter.as_ref(), &scope)?;
                Ok((caller, filter))
            }
            .await,
        )?
        .into_inner();
        let stream = relais_platform::grpc::page_stream(
            self.pool.clone(),
            None,
            move |mut conn, after: Option<(Uuid, i32)>| {
                let filter = filter.clone();
                async move {
                    let (data, next) =
                        reports::export_page(&mut conn, caller.tenant, &filter, after).await?;
                    Ok((pb::ExportOrdersResponse { data }, next.map(Some)))
                }
            },
        );
        Ok(Response::new(stream))
    }

    async fn get_order_statistics(
        &self,
        req: Request<pb::GetOrderStatisticsRequest>,
    ) -> Reply<pb::GetOrderStatisticsResponse> {
        reply(
            async {
                let caller = auth::caller(&req)?;
                caller.require(&[Role::Admin, Role::Staff, Role::Service, Role::Connector])?;
                let r = req.get_ref();
                let dimension = pb::StatisticsDimension::try_from(r.dimension)
                    .unwrap_or(pb::StatisticsDimension::Unspecified);
                let tz = reports::time_zone(&r.time_zone)?;
                let mut conn = self.pool.acquire().await?;
                let scope = access::scope(&mut conn, &caller).await?;
                let filter = reports::Filter::parse(r.filter.as_ref(), &scope)?;
                let rows =
                    reports::statistics(&mut conn, caller.tenant, &filter, dimension, &tz).await?;
                Ok(pb::GetOrderStatisticsResponse { rows })
            }
            .await,
        )
    }
}
