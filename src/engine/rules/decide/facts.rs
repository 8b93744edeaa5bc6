//! What a decision is given: what amoCRM and the engine's memory say about the client's phone.

/// The visible contact of the client's phone (lowest id when several share it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ContactFacts {
    pub(crate) id: u64,
    pub(crate) responsible: Option<u64>,
    /// Ids of its active leads (status not 142/143).
    pub(crate) active_leads: Vec<u64>,
}

/// What amoCRM and the engine's memory say about the client's phone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    pub(crate) contact: Option<ContactFacts>,
    /// A pending Unsorted item of this phone (verified in amoCRM).
    pub(crate) pending_unsorted: Option<String>,
    /// Deadline of an open engine-made callback task for this phone (verified not completed).
    pub(crate) open_task_deadline: Option<i64>,
    /// This call already created an Unsorted item at its first ring (R-IN-U3), still pending.
    pub(crate) unsorted_of_call: Option<String>,
    /// `source_uid` of the last item this call created, whatever became of it: a call whose
    /// item is gone without its contact becoming visible had it declined.
    pub(crate) call_item: Option<String>,
    /// The item this call accepted when it was answered (R-IN-U3).
    pub(crate) accepted_at_answer: Option<AcceptedItem>,
}

/// An Unsorted item accepted at the answer of the call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AcceptedItem {
    pub(crate) uid: String,
}
