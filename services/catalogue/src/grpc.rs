//! `relais.catalogue.v1.CatalogueService`: authenticates the caller, parses
//! the request, runs the domain function in a transaction with its events,
//! and commits through the outbox.
//!
//! One file though it is past 500 lines: tonic wants the service as one
//! `impl` block, and each method is only the call's own checks (who may,
//! which fields) around one domain call. Split by method, every method
//! would become a forwarder to another file; the domain work is already
//! elsewhere (categories, prestations, products, prices, packs, bulk).

use std::pin::Pin;

use futures::{Stream, StreamExt};
use relais_platform::{
    auth::{self, Caller},
    error::{Error, Result},
    nats::Namespace,
    outbox::Outbox,
    write::{Writer, cut_page, reply},
};
use relais_proto::catalogue::{self as pb, catalogue_service_server::CatalogueService};
use sqlx::PgPool;
use tonic::{Request, Response, Status, Streaming};

use relais_platform::{context::Ctx, validate};

use crate::{SERVICE, bulk, categories, packs, prestations, prices, products};

#[derive(Clone)]
pub struct CatalogueApi {
    pool: PgPool,
    writer: Writer,
    ns: Namespace,
}

type Reply<T> = std::result::Result<Response<T>, Status>;

impl CatalogueApi {
    pub fn new(pool: PgPool, outbox: Outbox, ns: Namespace) -> Self {
        Self {
            writer: Writer::new(pool.clone(), outbox),
            pool,
            ns,
        }
    }

    fn reader<T>(&self, req: &Request<T>) -> Result<Caller> {
        auth::caller(req)
    }

    fn writer<T>(&self, req: &Request<T>) -> Result<Ctx> {
        let caller = auth::caller(req)?;
        caller.require(Caller::WRITERS)?;
        Ok(Ctx::new(SERVICE, &caller, &self.ns))
    }
}

fn filter(
    page: Option<&relais_proto::types::PageRequest>,
    include_inactive: bool,
    category_id: &str,
    query: &str,
) -> Result<prestations::Filter> {
    let page = page.cloned().unwrap_or_default();
    let category_id = if category_id.is_empty() {
        None
    } else {
        Some(validate::id("category_id", category_id)?)
    };
    if query.chars().count() > validate::MAX_TEXT {
        return Err(Error::invalid("query", "at most 200 characters"));
    }
    Ok(prestations::Filter {
        after: validate::page_token(&page.page_token)?,
        // One more than asked, to know whether a next page exists.
        limit: validate::page_size(page.page_size)? + 1,
        include_inactive,
        category_id,
        query: query.to_owned(),
    })
}

#[tonic::async_trait]
impl CatalogueService for CatalogueApi {
    async fn create_category(
        &self,
        req: Request<pb::CreateCategoryRequest>,
    ) -> Reply<pb::CreateCategoryResponse> {
        reply(
            async {
                let ctx = self.writer(&req)?;
                let r = req.get_ref();
                let input =
                    categories::Input::parse(&r.parent_id, &r.code, &r.name, r.position, r.active)?;
                self.writer
                    .create_once(
                        &ctx.keys,
                        "CreateCategory",
                        &r.idempotency_key,
                        r,
                        async |tx| {
                            let category = categories::create(tx, &ctx, input).await?;
                            Ok(pb::CreateCategoryResponse {
                                category: Some(category),
                            })
                        },
                    )
                    .await
            }
            .await,
        )
    }

    async fn update_category(
        &self,
        req: Request<pb::UpdateCategoryRequest>,
    ) -> Reply<pb::UpdateCategoryResponse> {
        reply(
            async {
                let ctx = self.writer(&req)?;
                let r = req.get_ref();
                let id = validate::id("id", &r.id)?;
                let input =
                    categories::Input::parse(&r.parent_id, &r.code, &r.name, r.position, r.active)?;
                self.writer
                    .change(async |tx| {
                        let category =
                            categories::update(tx, &ctx, id, r.expected_version, input).await?;
                        Ok(pb::UpdateCategoryResponse {
                            category: Some(category),
                        })
                    })
                    .await
            }
            .await,
        )
    }

    async fn get_category(
        &self,
        req: Request<pb::GetCategoryRequest>,
    ) -> Reply<pb::GetCategoryResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let id = validate::id("id", &req.get_ref().id)?;
                let category = categories::get(&self.pool, caller.tenant, id).await?;
                Ok(pb::GetCategoryResponse {
                    category: Some(category),
                })
            }
            .await,
        )
    }

    async fn list_categories(
        &self,
        req: Request<pb::ListCategoriesRequest>,
    ) -> Reply<pb::ListCategoriesResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let categories =
                    categories::list(&self.pool, caller.tenant, req.get_ref().include_inactive)
                        .await?;
                Ok(pb::ListCategoriesResponse { categories })
            }
            .await,
        )
    }

    async fn create_service(
        &self,
        req: Request<pb::CreateServiceRequest>,
    ) -> Reply<pb::CreateServiceResponse> {
        reply(
            async {
                let ctx = self.writer(&req)?;
                let r = req.get_ref();
                let input = prestations::Input::parse(r.fields.as_ref())?;
                self.writer
                    .create_once(
                        &ctx.keys,
                        "CreateService",
                        &r.idempotency_key,
                        r,
                        async |tx| {
                            let service = prestations::create(tx, &ctx, input).await?;
                            Ok(pb::CreateServiceResponse {
                                service: Some(service),
                            })
                        },
                    )
                    .await
            }
            .await,
        )
    }

    async fn update_service(
        &self,
        req: Request<pb::UpdateServiceRequest>,
    ) -> Reply<pb::UpdateServiceResponse> {
        reply(
            async {
                let ctx = self.writer(&req)?;
                let r = req.get_ref();
                let id = validate::id("id", &r.id)?;
                let input = prestations::Input::parse(r.fields.as_ref())?;
                self.writer
                    .change(async |tx| {
                        let service =
                            prestations::update(tx, &ctx, id, r.expected_version, input).await?;
                        Ok(pb::UpdateServiceResponse {
                            service: Some(service),
                        })
                    })
                    .await
            }
            .await,
        )
    }

    async fn get_service(
        &self,
        req: Request<pb::GetServiceRequest>,
    ) -> Reply<pb::GetServiceResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let id = validate::id("id", &req.get_ref().id)?;
                let service = prestations::get(&self.pool, caller.tenant, id).await?;
                Ok(pb::GetServiceResponse {
                    service: Some(service),
                })
            }
            .await,
        )
    }

    async fn list_services(
        &self,
        req: Request<pb::ListServicesRequest>,
    ) -> Reply<pb::ListServicesResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let r = req.get_ref();
                let f = filter(
                    r.page.as_ref(),
                    r.include_inactive,
                    &r.category_id,
                    &r.query,
                )?;
                let items = prestations::list(&self.pool, caller.tenant, &f).await?;
                let (services, next_page_token) = cut_page(items, f.limit, |s| s.id.clone());
                Ok(pb::ListServicesResponse {
                    services,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn create_product(
        &self,
        req: Request<pb::CreateProductRequest>,
    ) -> Reply<pb::CreateProductResponse> {
        reply(
            async {
                let ctx = self.writer(&req)?;
                let r = req.get_ref();
                let input = products::Input::parse(r.fields.as_ref())?;
                self.writer
                    .create_once(
                        &ctx.keys,
                        "CreateProduct",
                        &r.idempotency_key,
                        r,
                        async |tx| {
                            let product = products::create(tx, &ctx, input).await?;
                            Ok(pb::CreateProductResponse {
                                product: Some(product),
                            })
                        },
                    )
                    .await
            }
            .await,
        )
    }

    async fn update_product(
        &self,
        req: Request<pb::UpdateProductRequest>,
    ) -> Reply<pb::UpdateProductResponse> {
        reply(
            async {
                let ctx = self.writer(&req)?;
                let r = req.get_ref();
                let id = validate::id("id", &r.id)?;
                let input = products::Input::parse(r.fields.as_ref())?;
                self.writer
                    .change(async |tx| {
                        let product =
                            products::update(tx, &ctx, id, r.expected_version, input).await?;
                        Ok(pb::UpdateProductResponse {
                            product: Some(product),
                        })
                    })
                    .await
            }
            .await,
        )
    }

    async fn get_product(
        &self,
        req: Request<pb::GetProductRequest>,
    ) -> Reply<pb::GetProductResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let id = validate::id("id", &req.get_ref().id)?;
                let product = products::get(&self.pool, caller.tenant, id).await?;
                Ok(pb::GetProductResponse {
                    product: Some(product),
                })
            }
            .await,
        )
    }

    async fn list_products(
        &self,
        req: Request<pb::ListProductsRequest>,
    ) -> Reply<pb::ListProductsResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let r = req.get_ref();
                let f = filter(
                    r.page.as_ref(),
                    r.include_inactive,
                    &r.category_id,
                    &r.query,
                )?;
                let items = products::list(&self.pool, caller.tenant, &f).await?;
                let (products, next_page_token) = cut_page(items, f.limit, |p| p.id.clone());
                Ok(pb::ListProductsResponse {
                    products,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn set_stock(&self, req: Request<pb::SetStockRequest>) -> Reply<pb::SetStockResponse> {
        reply(
            async {
                let ctx = self.writer(&req)?;
                let r = req.get_ref();
                let id = validate::id("product_id", &r.product_id)?;
                self.writer
                    .change(async |tx| {
                        let product =
                            products::set_stock(tx, &ctx, id, r.real, r.available).await?;
                        Ok(pb::SetStockResponse {
                            product: Some(product),
                        })
                    })
                    .await
            }
            .await,
        )
    }

    async fn set_price_list_entry(
        &self,
        req: Request<pb::SetPriceListEntryRequest>,
    ) -> Reply<pb::SetPriceListEntryResponse> {
        reply(
            async {
                let ctx = self.writer(&req)?;
                let r = req.get_ref();
                let item = validate::id("item_id", &r.item_id)?;
                self.writer
                    .change(async |tx| {
                        let entry =
                            prices::set(tx, &ctx, &r.customer_family, item, r.price.as_ref())
                                .await?;
                        Ok(pb::SetPriceListEntryResponse { entry: Some(entry) })
                    })
                    .await
            }
            .await,
        )
    }

    async fn remove_price_list_entry(
        &self,
        req: Request<pb::RemovePriceListEntryRequest>,
    ) -> Reply<pb::RemovePriceListEntryResponse> {
        reply(
            async {
                let ctx = self.writer(&req)?;
                let r = req.get_ref();
                let item = validate::id("item_id", &r.item_id)?;
                self.writer
                    .change(async |tx| {
                        prices::remove(tx, &ctx, &r.customer_family, item).await?;
                        Ok(pb::RemovePriceListEntryResponse {})
                    })
                    .await
            }
            .await,
        )
    }

    async fn list_price_list_entries(
        &self,
        req: Request<pb::ListPriceListEntriesRequest>,
    ) -> Reply<pb::ListPriceListEntriesResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let entries =
                    prices::list(&self.pool, caller.tenant, &req.get_ref().customer_family).await?;
                Ok(pb::ListPriceListEntriesResponse { entries })
            }
            .await,
        )
    }

    async fn get_prices(&self, req: Request<pb::GetPricesRequest>) -> Reply<pb::GetPricesResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let r = req.get_ref();
                let ids = r
                    .item_ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| validate::id(&format!("item_ids[{i}]"), id))
                    .collect::<Result<Vec<_>>>()?;
                let prices =
                    prices::prices(&self.pool, caller.tenant, &r.customer_family, &ids).await?;
                Ok(pb::GetPricesResponse { prices })
            }
            .await,
        )
    }

    async fn create_hour_pack(
        &self,
        req: Request<pb::CreateHourPackRequest>,
    ) -> Reply<pb::CreateHourPackResponse> {
        reply(
            async {
                let ctx = self.writer(&req)?;
                let r = req.get_ref();
                self.writer
                    .create_once(
                        &ctx.keys,
                        "CreateHourPack",
                        &r.idempotency_key,
                        r,
                        async |tx| {
                            let pack = packs::create(tx, &ctx, r).await?;
                            Ok(pb::CreateHourPackResponse {
                                hour_pack: Some(pack),
                            })
                        },
                    )
                    .await
            }
            .await,
        )
    }

    async fn update_hour_pack_services(
        &self,
        req: Request<pb::UpdateHourPackServicesRequest>,
    ) -> Reply<pb::UpdateHourPackServicesResponse> {
        reply(
            async {
                let ctx = self.writer(&req)?;
                let r = req.get_ref();
                let id = validate::id("id", &r.id)?;
                self.writer
                    .change(async |tx| {
                        let pack =
                            packs::update_services(tx, &ctx, id, &r.eligible_service_ids).await?;
                        Ok(pb::UpdateHourPackServicesResponse {
                            hour_pack: Some(pack),
                        })
                    })
                    .await
            }
            .await,
        )
    }

    async fn set_hour_pack_active(
        &self,
        req: Request<pb::SetHourPackActiveRequest>,
    ) -> Reply<pb::SetHourPackActiveResponse> {
        reply(
            async {
                let ctx = self.writer(&req)?;
                let r = req.get_ref();
                let id = validate::id("id", &r.id)?;
                self.writer
                    .change(async |tx| {
                        let pack = packs::set_active(tx, &ctx, id, r.active).await?;
                        Ok(pb::SetHourPackActiveResponse {
                            hour_pack: Some(pack),
                        })
                    })
                    .await
            }
            .await,
        )
    }

    async fn delete_hour_pack(
        &self,
        req: Request<pb::DeleteHourPackRequest>,
    ) -> Reply<pb::DeleteHourPackResponse> {
        reply(
            async {
                let ctx = self.writer(&req)?;
                let id = validate::id("id", &req.get_ref().id)?;
                self.writer
                    .change(async |tx| {
                        packs::delete(tx, &ctx, id).await?;
                        Ok(pb::DeleteHourPackResponse {})
                    })
                    .await
            }
            .await,
        )
    }

    async fn get_hour_pack(
        &self,
        req: Request<pb::GetHourPackRequest>,
    ) -> Reply<pb::GetHourPackResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let id = validate::id("id", &req.get_ref().id)?;
                let pack = packs::get(&self.pool, caller.tenant, id).await?;
                Ok(pb::GetHourPackResponse {
                    hour_pack: Some(pack),
                })
            }
            .await,
        )
    }

    async fn list_hour_packs(
        &self,
        req: Request<pb::ListHourPacksRequest>,
    ) -> Reply<pb::ListHourPacksResponse> {
        reply(
            async {
                let caller = self.reader(&req)?;
                let hour_packs =
                    packs::list(&self.pool, caller.tenant, req.get_ref().include_inactive).await?;
                Ok(pb::ListHourPacksResponse { hour_packs })
            }
            .await,
        )
    }

    type BulkUpsertStream =
        Pin<Box<dyn Stream<Item = std::result::Result<pb::BulkUpsertResponse, Status>> + Send>>;

    async fn bulk_upsert(
        &self,
        req: Request<Streaming<pb::BulkUpsertRequest>>,
    ) -> Reply<Self::BulkUpsertStream> {
        let ctx = self.writer(&req).map_err(Status::from)?;
        let mut inbound = req.into_inner();
        let (pool, outbox) = (self.pool.clone(), self.writer.outbox.clone());
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            while let Some(item) = inbound.next().await {
                let answer = match item {
                    Ok(item) => Ok(bulk::apply(&pool, &outbox, &ctx, item).await),
                    Err(status) => Err(status),
                };
                let stop = answer.is_err();
                if tx.send(answer).await.is_err() || stop {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }
}
