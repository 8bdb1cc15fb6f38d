//! The reference ERP as tests reach it: the client the connector uses, its
//! records, its fault injection.

use std::time::Duration;

use relais_connector::{
    adapter::{ErpAdapter, ErpRecord},
    reference_erp::ReferenceErpClient,
};
use relais_platform::testing;

use crate::{ERP_KEYS, Stack};

impl Stack {
    /// The ERP as the connector reaches it, with the test keys.
    pub fn erp(&self) -> ReferenceErpClient {
        let (public, private) = ERP_KEYS.split_once(':').unwrap_or_default();
        ReferenceErpClient::new(&self.erp_base(), public, private, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("the ERP client: {e}"))
    }

    /// Waits (15 s at most) until the connector has recorded each of
    /// `records` as bound on `connection` at its ERP version or later. The
    /// ERP holds a pushed record a moment before the connector commits its
    /// binding, so a test that then pulls documents naming that record
    /// waits for the binding, not only for the ERP's copy.
    pub async fn bound(&self, connection: &str, entity: &str, records: &[ErpRecord]) {
        testing::eventually(Duration::from_secs(15), || async {
            let bindings = self
                .connector()
                .list_bindings(self.admin(relais_proto::connector::ListBindingsRequest {
                    connection_id: connection.into(),
                    entity: entity.into(),
                    // Every one the tests make.
                    page: Some(relais_proto::types::PageRequest {
                        page_size: 500,
                        ..Default::default()
                    }),
                }))
                .await
                .ok()?
                .into_inner()
                .bindings;
            records
                .iter()
                .all(|r| {
                    bindings
                        .iter()
                        .any(|b| b.external_id == r.id && b.erp_version >= r.version)
                })
                .then_some(())
        })
        .await
        .unwrap_or_else(|| panic!("the connector never recorded the ERP's {entity} versions"))
    }

    /// Sets the ERP's injected faults (`{"error_rate": 0.3, ...}`).
    pub async fn faults(&self, faults: serde_json::Value) {
        relais_platform::http::client(Duration::from_secs(5))
            .map(|c| c.post(format!("{}/_faults", self.erp_base())).json(&faults))
            .unwrap_or_else(|e| panic!("the faults request: {e}"))
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .unwrap_or_else(|e| panic!("the ERP refused the faults: {e}"));
    }

    /// Every record of `object` in the ERP.
    pub async fn erp_records(&self, object: &str) -> Vec<ErpRecord> {
        let erp = self.erp();
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let changes = erp
                .changed_since(object, None, page, 500)
                .await
                .unwrap_or_else(|e| panic!("the ERP's {object} records: {e}"));
            all.extend(changes.records);
            match changes.next {
                Some(n) => page = n,
                None => return all,
            }
        }
    }

    /// Waits (30 s at most) until the ERP holds `n` records of `object`
    /// that `check` accepts.
    pub async fn erp_eventually(
        &self,
        object: &str,
        n: usize,
        check: impl Fn(&ErpRecord) -> bool,
    ) -> Vec<ErpRecord> {
        self.erp_within(Duration::from_secs(30), object, n, check)
            .await
    }

    /// [`Stack::erp_eventually`], waiting `timeout` at most.
    pub async fn erp_within(
        &self,
        timeout: Duration,
        object: &str,
        n: usize,
        check: impl Fn(&ErpRecord) -> bool,
    ) -> Vec<ErpRecord> {
        testing::eventually(timeout, || async {
            let records = self.erp_records(object).await;
            let ok: Vec<ErpRecord> = records.into_iter().filter(&check).collect();
            (ok.len() == n).then_some(ok)
        })
        .await
        .unwrap_or_else(|| panic!("the ERP never held {n} such {object} records"))
    }
}

/// A text field of an ERP record ("" when absent).
pub fn text<'a>(r: &'a ErpRecord, field: &str) -> &'a str {
    r.fields
        .get(field)
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default()
}

/// A JSON object's fields, as the ERP adapter takes them.
pub fn fields(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        _ => serde_json::Map::new(),
    }
}
