//! LLM routing: which provider answers a turn, in which order the others are tried, and when a
//! failing provider is skipped for a while. Sans-IO: the caller passes the time in ms and
//! reports outcomes; every decision comes with its reason, for the log.
//!
//! - **Order**: the tenant's routes as configured, or, with `smart` on, the fast tier first for
//!   short small talk and the strong tier first for long requests or requests that may need
//!   tools. Routes whose circuit breaker is open go last (tried only if everything else fails).
//! - **Fallback** happens only *before the first token* reached the user (no duplicate speech):
//!   on a first-token timeout, 408, 429, 5xx, a disconnect, a malformed stream, or 401/403
//!   (that provider's key is bad; another may work). 400, 404, 413 and 422 mean the request
//!   itself is wrong: no fallback.
//! - **Circuit breaker**: `breaker_failures` failures in a row open a route for
//!   `breaker_open_ms` (a 429's `retry-after`, if longer, wins); then one trial request is let
//!   through; its success closes the breaker, its failure re-opens it. A 429 opens it at once,
//!   whether or not the provider said how long to wait.

/// How capable (and how fast) a route's model is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    Fast,
    Strong,
}

/// One configured provider + model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// What users see (metrics, error messages): the tenant's slot name, `llm0`, `llm1`, ...
    pub name: String,
    /// The provider's host: the route's identity across turns, and for the logs only.
    pub provider: String,
    pub model: String,
    pub tier: Tier,
    /// Sent as the chat body's `reasoning_effort` when set.
    pub reasoning_effort: Option<crate::providers::reasoning::ReasoningEffort>,
    /// The model's context window, if the tenant gave one.
    pub context_tokens: Option<u32>,
}

/// Routing parameters (per tenant).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterConfig {
    /// Time allowed to the first token, in ms. Default 2 500.
    pub first_token_timeout_ms: u32,
    /// Consecutive failures that open a route's breaker. Default 3.
    pub breaker_failures: u32,
    /// How long an open breaker skips its route, in ms. Default 30 000.
    pub breaker_open_ms: u64,
    /// Rule-based choice of tier per request. Default on.
    pub smart: bool,
    /// A request up to this many characters with no sign of needing tools is small talk. Default 80.
    pub small_talk_max_chars: usize,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            first_token_timeout_ms: 2_500,
            breaker_failures: 3,
            breaker_open_ms: 30_000,
            smart: true,
            small_talk_max_chars: 80,
        }
    }
}

/// What the router needs to know about a request.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub user_text: &'a str,
    /// The tenant has tools the model may call.
    pub tools_available: bool,
}

/// How an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// An HTTP error status, with the `retry-after` the provider sent, in ms.
    Status {
        code: u16,
        retry_after_ms: Option<u64>,
    },
    /// No first token within `first_token_timeout_ms`.
    FirstTokenTimeout,
    /// The connection closed or the stream was cut.
    Disconnect,
    /// The stream was not a valid chat completion stream.
    Malformed,
    /// 403 `unsupported_country_region_territory`: the provider refuses the region the edge
    /// called from, not the key.
    RegionRefused,
}

impl Failure {
    /// Whether another provider may succeed where this one failed.
    pub fn may_fall_back(self) -> bool {
        match self {
            Self::Status { code, .. } => {
                matches!(code, 401 | 403 | 408 | 409 | 425 | 429) || (500..=599).contains(&code)
            }
            Self::FirstTokenTimeout | Self::Disconnect | Self::Malformed | Self::RegionRefused => {
                true
            }
        }
    }

    fn describe(self) -> String {
        match self {
            Self::Status { code: 429, .. } => "rate limited (429)".into(),
            Self::Status {
                code: c @ (401 | 403),
                ..
            } => format!("key refused ({c})"),
            Self::Status { code, .. } => format!("HTTP {code}"),
            Self::FirstTokenTimeout => "no first token in time".into(),
            Self::Disconnect => "disconnected".into(),
            Self::Malformed => "malformed stream".into(),
            Self::RegionRefused => {
                "refused in this region (403 unsupported_country_region_territory), not a bad key"
                    .into()
            }
        }
    }
}

/// The order in which to try the routes for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Indices into the routes, first choice first.
    pub order: Vec<usize>,
    pub reason: String,
}

/// What to do after a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Try `route` next.
    FallBack { route: usize, reason: String },
    /// Stop and tell the user.
    GiveUp { reason: String },
}

#[derive(Debug, Clone, Copy, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<u64>,
    /// A trial is in flight after the open period.
    trial: bool,
    /// The route refused `tools` outright (llama.cpp without `--jinja`): it is asked without.
    without_tools: bool,
}

/// The router for one tenant.
#[derive(Debug, Clone)]
pub struct Router {
    config: RouterConfig,
    routes: Vec<Route>,
    breakers: Vec<Breaker>,
}

impl Router {
    pub fn new(config: RouterConfig, routes: Vec<Route>) -> Self {
        let breakers = vec![Breaker::default(); routes.len()];
        Self {
            config,
            routes,
            breakers,
        }
    }

    /// Follows the tenant's current settings: the routes of the turn about to be planned (the
    /// admin may have changed them since the last turn) and its parameters. A route that is
    /// still configured keeps its breaker, wherever it moved in the list; a new one starts
    /// closed; one that is gone is forgotten. Plans index `routes` from here on.
    pub fn follow(&mut self, config: RouterConfig, routes: Vec<Route>) {
        let breakers = routes
            .iter()
            .map(|r| {
                self.routes
                    .iter()
                    .position(|old| old.provider == r.provider && old.model == r.model)
                    .and_then(|i| self.breakers.get(i).copied())
                    .unwrap_or_default()
            })
            .collect();
        self.config = config;
        self.routes = routes;
        self.breakers = breakers;
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn config(&self) -> &RouterConfig {
        &self.config
    }

    /// Plans the attempts for a request at time `now_ms`.
    pub fn plan(&mut self, request: &Request<'_>, now_ms: u64) -> Plan {
        let mut order: Vec<usize> = (0..self.routes.len()).collect();
        let mut reason;
        if self.config.smart {
            let has = |t: Tier| self.routes.iter().any(|r| r.tier == t);
            if has(Tier::Fast) && has(Tier::Strong) {
                let chars = request.user_text.chars().count();
                let small_talk = chars <= self.config.small_talk_max_chars && !needs_tools(request);
                let first = if small_talk { Tier::Fast } else { Tier::Strong };
                // Stable: keeps the configured order within each tier.
                order.sort_by_key(|&i| self.routes[i].tier != first);
                reason = if small_talk {
                    format!("smart: short request ({chars} chars), fast tier first")
                } else if request.tools_available && needs_tools(request) {
                    "smart: may need tools, strong tier first".into()
                } else {
                    format!("smart: long request ({chars} chars), strong tier first")
                };
            } else {
                reason = "configured order (one tier only)".into();
            }
        } else {
            reason = "configured order (smart routing off)".into();
        }
        // Open breakers go last; one whose open period has passed gets a trial.
        let mut skipped = Vec::new();
        for &i in &order {
            let b = &mut self.breakers[i];
            if let Some(until) = b.open_until {
                if now_ms >= until && !b.trial {
                    b.trial = true;
                } else {
                    skipped.push(i);
                }
            }
        }
        if !skipped.is_empty() {
            order.retain(|i| !skipped.contains(i));
            let names: Vec<&str> = skipped
                .iter()
                .map(|&i| self.routes[i].name.as_str())
                .collect();
            reason.push_str(&format!("; breaker open, tried last: {}", names.join(", ")));
            order.extend(skipped);
        }
        Plan { order, reason }
    }

    /// The attempt on `route` produced its first token: no fallback from here on.
    pub fn succeeded(&mut self, route: usize) {
        if let Some(b) = self.breakers.get_mut(route) {
            *b = Breaker {
                without_tools: b.without_tools,
                ..Breaker::default()
            };
        }
    }

    /// `route` cannot take tools: from now on it is asked without them (not a failure).
    pub fn refuses_tools(&mut self, route: usize) {
        if let Some(b) = self.breakers.get_mut(route) {
            b.without_tools = true;
        }
    }

    /// Whether `route` is asked without tools.
    pub fn takes_tools(&self, route: usize) -> bool {
        self.breakers.get(route).is_none_or(|b| !b.without_tools)
    }

    /// The attempt on `route` failed. `tokens_sent` if any of its text already reached the user.
    /// `remaining` are the plan's routes not yet tried, in order.
    pub fn failed(
        &mut self,
        route: usize,
        failure: Failure,
        tokens_sent: bool,
        remaining: &[usize],
        now_ms: u64,
    ) -> Next {
        let name = self
            .routes
            .get(route)
            .map_or("?", |r| r.name.as_str())
            .to_string();
        if let Some(b) = self.breakers.get_mut(route) {
            b.failures += 1;
            let retry_after = match failure {
                Failure::Status {
                    retry_after_ms: Some(ms),
                    ..
                } => Some(ms),
                _ => None,
            };
            // A 429 opens the breaker at once, with or without a stated wait.
            let rate_limited = matches!(failure, Failure::Status { code: 429, .. });
            if b.trial
                || b.failures >= self.config.breaker_failures
                || retry_after.is_some()
                || rate_limited
            {
                let open_for = self.config.breaker_open_ms.max(retry_after.unwrap_or(0));
                b.open_until = Some(now_ms + open_for);
            }
            b.trial = false;
        }
        let what = failure.describe();
        if tokens_sent {
            return Next::GiveUp {
                reason: format!(
                    "{name}: {what} after text was sent; no fallback, to avoid repeating speech"
                ),
            };
        }
        if !failure.may_fall_back() {
            return Next::GiveUp {
                reason: format!("{name}: {what}; the request itself was refused"),
            };
        }
        match remaining.first() {
            Some(&next) => Next::FallBack {
                route: next,
                reason: format!("{name}: {what}; falling back to {}", self.routes[next].name),
            },
            None => Next::GiveUp {
                reason: format!("{name}: {what}; no provider left"),
            },
        }
    }
}

/// Words that suggest the user wants something done or looked up (a tool), not a chat.
fn needs_tools(request: &Request<'_>) -> bool {
    if !request.tools_available {
        return false;
    }
    const ACTIONS: [&str; 16] = [
        "book",
        "order",
        "reserve",
        "cancel",
        "check",
        "status",
        "track",
        "schedule",
        "appointment",
        "refund",
        "transfer",
        "human",
        "agent",
        "look up",
        "find",
        "when is",
    ];
    let text = request.user_text.to_lowercase();
    ACTIONS.iter().any(|a| text.contains(a))
}

#[cfg(test)]
mod tests;
