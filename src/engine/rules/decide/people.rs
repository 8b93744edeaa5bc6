//! Who is responsible (R-MISS-RESP and the answerer of R-IN-K1, R-IN-U1, R-OUT-*): an
//! employee's amoCRM user, the default manager («Менеджер по умолчанию») and the first user on
//! the line («Первый пользователь на линии»).

use super::super::call::Call;
use super::super::settings::Settings;
use crate::sipuni::event::ShortNumber;

/// The amoCRM user of an employee's short number («Пользователи»), if the settings map it.
pub(super) fn user(s: &Settings, short: Option<&ShortNumber>) -> Option<u64> {
    short.and_then(|n| s.user_of(n))
}

/// «Менеджер по умолчанию»: the scheme's missed-call responsible, else the global one.
pub(super) fn default_manager(s: &Settings, call: &Call) -> u64 {
    s.scheme(call.scheme.as_deref())
        .and_then(|sc| sc.missed_responsible)
        .unwrap_or(s.default_responsible)
}

/// «Первый пользователь на линии»: the scheme's first employee, else the first leg rung.
pub(super) fn first_user(s: &Settings, call: &Call) -> Option<u64> {
    let configured = s
        .scheme(call.scheme.as_deref())
        .and_then(|sc| sc.first_user.as_ref())
        .and_then(|n| s.user_of(n));
    configured.or_else(|| user(s, call.legs.first()))
}

/// R-MISS-RESP: responsible for a missed call from a new client.
pub(super) fn missed_responsible(s: &Settings, call: &Call) -> u64 {
    if s.incoming.missed.first_user_responsible {
        first_user(s, call).unwrap_or_else(|| default_manager(s, call))
    } else {
        default_manager(s, call)
    }
}
