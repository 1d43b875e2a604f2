//! Private previews (protocol v2 "Private previews"): an exposure's
//! visibility, the login tickets that turn into its cookie, and the checks
//! the gateway makes. Everything here lives with one exposure's token: a
//! rotation or close makes a new [`Access`] (or none), so cookies and
//! tickets die with it, and nothing is persisted, so they die with the
//! server too.

use super::random_string;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// How long a login link works.
pub const LOGIN_TTL: Duration = Duration::from_secs(60);
/// Length of login tickets and cookie values (CSPRNG, `[a-z0-9]`: ~165 and
/// ~227 bits).
pub const TICKET_LEN: usize = 32;
pub const COOKIE_LEN: usize = 44;
/// Unused tickets kept per exposure; beyond, the oldest is dropped.
pub const MAX_TICKETS: usize = 64;

/// Who may use a preview URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// The URL alone grants access (v1).
    #[default]
    Public,
    /// The URL plus `X-Sandport-Key` or the login cookie.
    Private,
}

impl Visibility {
    pub fn parse(s: &str) -> Option<Visibility> {
        match s {
            "public" => Some(Visibility::Public),
            "private" => Some(Visibility::Private),
            _ => None,
        }
    }
}

/// The credentials of one exposure (for one token).
#[derive(Debug)]
pub struct Access {
    /// The value of the login cookie.
    cookie: String,
    /// Unused login tickets and when they stop working.
    tickets: Mutex<Vec<(String, Instant)>>,
}

impl Default for Access {
    fn default() -> Self {
        Access::new()
    }
}

impl Access {
    pub fn new() -> Access {
        Access {
            cookie: random_string(COOKIE_LEN),
            tickets: Mutex::new(Vec::new()),
        }
    }

    /// A new single-use ticket valid for [`LOGIN_TTL`] from `now`.
    pub(crate) fn issue(&self, now: Instant) -> String {
        let t = random_string(TICKET_LEN);
        let mut ts = self.tickets.lock().unwrap();
        ts.retain(|(_, until)| now < *until);
        if ts.len() >= MAX_TICKETS {
            ts.remove(0);
        }
        ts.push((t.clone(), now + LOGIN_TTL));
        t
    }

    /// Uses up `ticket`: the cookie value when it was issued here, unused
    /// and not expired. Every stored ticket is compared in full (constant
    /// time per ticket), so timing does not tell how close a guess was.
    pub fn redeem(&self, ticket: &str, now: Instant) -> Option<&str> {
        let mut ts = self.tickets.lock().unwrap();
        let mut hit = None;
        for (i, (t, _)) in ts.iter().enumerate() {
            if bool::from(t.as_bytes().ct_eq(ticket.as_bytes())) {
                hit = Some(i);
            }
        }
        let (_, until) = ts.remove(hit?);
        ts.retain(|(_, u)| now < *u);
        (now < until).then_some(self.cookie.as_str())
    }

    /// Whether `value` is this exposure's cookie (constant time).
    pub fn check_cookie(&self, value: &str) -> bool {
        bool::from(value.as_bytes().ct_eq(self.cookie.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_are_single_use_and_expire() {
        let a = Access::new();
        let now = Instant::now();
        let t = a.issue(now);
        assert_eq!(t.len(), TICKET_LEN);
        assert!(a.redeem("nope", now).is_none());
        let c = a.redeem(&t, now).unwrap().to_string();
        assert!(a.check_cookie(&c));
        assert!(!a.check_cookie(&c[1..]));
        assert!(a.redeem(&t, now).is_none(), "single use");
        let late = a.issue(now);
        assert!(a.redeem(&late, now + LOGIN_TTL).is_none(), "expired");
        assert!(!Access::new().check_cookie(&c), "another exposure's cookie");
    }

    #[test]
    fn tickets_are_bounded() {
        let a = Access::new();
        let now = Instant::now();
        let first = a.issue(now);
        for _ in 0..MAX_TICKETS {
            a.issue(now);
        }
        assert_eq!(a.tickets.lock().unwrap().len(), MAX_TICKETS);
        assert!(a.redeem(&first, now).is_none(), "oldest dropped");
    }
}
