//! Credentials for the standalone dashboard: a bearer token or a user name and password, read
//! from the environment and checked on every request. An application that mounts the router
//! brings its own authentication as a layer instead (or uses [`Credentials::protect`] too).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::Engine;

/// The environment variable holding the bearer token.
pub const TOKEN_ENV: &str = "QUEUE_WEB_TOKEN";
/// The environment variable holding the user name for basic authentication.
pub const USER_ENV: &str = "QUEUE_WEB_USER";
/// The environment variable holding the password for basic authentication.
pub const PASSWORD_ENV: &str = "QUEUE_WEB_PASSWORD";

/// What a request must present.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// `Authorization: Bearer <token>`; a browser may send the token as the password of basic
    /// authentication, with any user name.
    Bearer(String),
    /// `Authorization: Basic` with this user name and password.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bearer(_) => f.write_str("Bearer(***)"),
            Self::Basic { user, .. } => write!(f, "Basic {{ user: {user:?}, password: *** }}"),
        }
    }
}

/// Credentials in the environment that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CredentialsError {
    /// Only one of the user name and the password is set, or one is empty.
    #[error("set both {USER_ENV} and {PASSWORD_ENV} (neither empty) for basic authentication")]
    Incomplete,
    /// Both a token and a user name and password are set.
    #[error("set either {TOKEN_ENV} or {USER_ENV} and {PASSWORD_ENV}, not both")]
    Both,
    /// The token is empty.
    #[error("{TOKEN_ENV} is set but empty")]
    EmptyToken,
}

impl Credentials {
    /// The credentials of the environment ([`TOKEN_ENV`], or [`USER_ENV`] and
    /// [`PASSWORD_ENV`]); `None` when none is set.
    pub fn from_env() -> Result<Option<Self>, CredentialsError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The credentials of variables read through `var`.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, CredentialsError> {
        let token = var(TOKEN_ENV);
        let user = var(USER_ENV);
        let password = var(PASSWORD_ENV);
        match (token, user, password) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(CredentialsError::Both),
            (Some(token), None, None) if token.is_empty() => Err(CredentialsError::EmptyToken),
            (Some(token), None, None) => Ok(Some(Self::Bearer(token))),
            (None, Some(user), Some(password)) if !user.is_empty() && !password.is_empty() => {
                Ok(Some(Self::Basic { user, password }))
            }
            (None, None, None) => Ok(None),
            _ => Err(CredentialsError::Incomplete),
        }
    }

    /// Whether the request's headers present these credentials.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let (scheme, value) = given.split_once(' ').unwrap_or((given, ""));
        let value = value.trim();
        let basic = || {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value)
                .ok()?;
            let text = String::from_utf8(bytes).ok()?;
            text.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        };
        match self {
            Self::Bearer(token) if scheme.eq_ignore_ascii_case("bearer") => same(token, value),
            Self::Bearer(token) if scheme.eq_ignore_ascii_case("basic") => {
                basic().is_some_and(|(_, p)| same(token, &p))
            }
            Self::Basic { user, password } if scheme.eq_ignore_ascii_case("basic") => {
                basic().is_some_and(|(u, p)| same(user, &u) & same(password, &p))
            }
            _ => false,
        }
    }

    /// `router` answering 401 to every request without these credentials.
    pub fn protect(self, router: Router) -> Router {
        router.layer(middleware::from_fn_with_state(Arc::new(self), require))
    }
}

/// Compares two secrets in time that depends only on their lengths.
fn same(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require(
    State(credentials): State<Arc<Credentials>>,
    request: Request,
    next: Next,
) -> Response {
    if credentials.allows(request.headers()) {
        return next.run(request).await;
    }
    let mut response = (StatusCode::UNAUTHORIZED, "authentication required\n").into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"queue dashboard\", charset=\"UTF-8\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn the_environment_names_one_kind_of_credentials() {
        assert_eq!(Credentials::from_vars(vars(&[])), Ok(None));
        assert_eq!(
            Credentials::from_vars(vars(&[(TOKEN_ENV, "t")])),
            Ok(Some(Credentials::Bearer("t".into())))
        );
        assert_eq!(
            Credentials::from_vars(vars(&[(USER_ENV, "u"), (PASSWORD_ENV, "p")])),
            Ok(Some(Credentials::Basic {
                user: "u".into(),
                password: "p".into()
            }))
        );
        assert_eq!(
            Credentials::from_vars(vars(&[(USER_ENV, "u")])),
            Err(CredentialsError::Incomplete)
        );
        assert_eq!(
            Credentials::from_vars(vars(&[(TOKEN_ENV, "t"), (USER_ENV, "u")])),
            Err(CredentialsError::Both)
        );
        assert_eq!(
            Credentials::from_vars(vars(&[(TOKEN_ENV, "")])),
            Err(CredentialsError::EmptyToken)
        );
        let debug = format!("{:?}", Credentials::Bearer("hunter2".into()));
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn headers_are_checked() {
        let mut headers = HeaderMap::new();
        let bearer = Credentials::Bearer("tok".into());
        assert!(!bearer.allows(&headers));
        headers.insert(header::AUTHORIZATION, "Bearer tok".parse().unwrap());
        assert!(bearer.allows(&headers));
        headers.insert(header::AUTHORIZATION, "Bearer tok2".parse().unwrap());
        assert!(!bearer.allows(&headers));
        let basic = |u: &str, p: &str| {
            let value = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
            format!("Basic {value}").parse().unwrap()
        };
        headers.insert(header::AUTHORIZATION, basic("anyone", "tok"));
        assert!(bearer.allows(&headers));
        let userpass = Credentials::Basic {
            user: "ops".into(),
            password: "pw".into(),
        };
        headers.insert(header::AUTHORIZATION, basic("ops", "pw"));
        assert!(userpass.allows(&headers));
        headers.insert(header::AUTHORIZATION, basic("ops", "px"));
        assert!(!userpass.allows(&headers));
        headers.insert(header::AUTHORIZATION, "Bearer pw".parse().unwrap());
        assert!(!userpass.allows(&headers));
    }
}
