#![doc = include_str!("../README.md")]

mod actions;
mod api;
mod assets;
mod auth;
mod context;
mod csrf;
mod dashboard;
mod data;
mod error;
mod guard;
mod html;
mod pages;
mod post;
mod routes;
mod serve;
mod state;

pub use auth::{Credentials, CredentialsError, PASSWORD_ENV, TOKEN_ENV, USER_ENV};
pub use dashboard::{router, Dashboard};
pub use serve::{check_listen, serve, ServeError};
