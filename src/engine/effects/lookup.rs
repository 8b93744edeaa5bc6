//! Look-ups and the create-at-most-once pattern every write of the engine goes through:
//! «Finding the contact» by phone, where a callback task is remembered, and a create whose
//! earlier outcome is uncertain looked up before it is sent again (R-FAIL, R-IDEM).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use backon::Retryable;

use crate::amocrm::client::{AmoClient, ClientError};
use crate::amocrm::model::Contact;
use crate::phone::{Country, typed_key};

/// «Finding the contact»: amoCRM's query is full-text, so search by the matching key and keep
/// only contacts whose PHONE really has it (the lowest id of several).
pub(crate) async fn find_contact(
    client: &AmoClient,
    key: &str,
    country: Country,
) -> Result<Option<Contact>, ClientError> {
    let contacts = client.search_contacts(key).await?;
    Ok(contacts
        .into_iter()
        .filter(|c| {
            c.phones()
                .iter()
                .any(|p| typed_key(p, country).as_deref() == Some(key))
        })
        .min_by_key(|c| c.id))
}

/// Where a callback task is remembered (R-MISS-DEDUP «по этому контакту»): under the phone,
/// and under the client's contact when there is one, so that a call from another phone of the
/// same contact finds it.
pub(crate) fn task_keys(phone_key: &str, contact: Option<u64>) -> Vec<String> {
    let mut keys = vec![phone_key.to_string()];
    keys.extend(contact.map(|id| format!("contact:{id}")));
    keys
}

/// Creates something at most once (R-FAIL, R-IDEM): a transient failure is retried with
/// backoff; when the outcome of an earlier try is unknown (`resumed`: its intent was saved
/// before a restart; or a try failed uncertainly), `lookup` runs before the next `create`, and
/// what it finds is taken as created.
pub(crate) async fn create_once<T, C, CF, L, LF>(
    client: &AmoClient,
    resumed: bool,
    create: C,
    lookup: L,
) -> Result<T, ClientError>
where
    C: Fn() -> CF,
    CF: Future<Output = Result<T, ClientError>>,
    L: Fn() -> LF,
    LF: Future<Output = Result<Option<T>, ClientError>>,
{
    let uncertain = AtomicBool::new(resumed);
    let clock = client.clock().clone();
    (|| async {
        if uncertain.load(Ordering::Relaxed)
            && let Some(found) = lookup().await?
        {
            tracing::info!("an earlier attempt had created it; not creating again");
            return Ok(found);
        }
        match create().await {
            Err(e) if e.is_uncertain() => {
                uncertain.store(true, Ordering::Relaxed);
                Err(e)
            }
            other => other,
        }
    })
    .retry(client.retry_policy().backoff(0x5eed))
    .sleep(move |d| {
        let c = clock.clone();
        async move { c.sleep(d).await }
    })
    .when(ClientError::is_transient)
    .notify(|e, d| tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "create failed; retrying"))
    .await
}
