//! `queue web`: the dashboard of crate `queue-web`, served until Ctrl-C.

use super::{Context, Report};
use crate::cli::WebArgs;
use crate::error::{CliError, CliResult};

/// Serves the dashboard on `args.listen` with the credentials of the environment.
pub(crate) async fn serve(cx: &Context, args: WebArgs) -> CliResult<Report> {
    let credentials =
        queue_web::Credentials::from_env().map_err(|e| CliError::usage(e.to_string()))?;
    let mut dashboard = queue_web::Dashboard::new(cx.queue.clone()).read_only(args.read_only);
    for secret in &cx.secrets {
        dashboard = dashboard.hide(secret.clone());
    }
    let protected = credentials.is_some();
    let read_only = args.read_only;
    queue_web::serve(
        dashboard.router(),
        args.listen,
        credentials,
        |addr| {
            eprintln!(
                "dashboard on http://{addr}/{}{} (Ctrl-C stops it)",
                if read_only { " read-only" } else { "" },
                if protected {
                    ", credentials required"
                } else {
                    ""
                }
            );
        },
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await
    .map_err(|e| match e {
        queue_web::ServeError::Unprotected(_) => CliError::usage(e.to_string()),
        other => CliError::failed(other.to_string()),
    })?;
    Ok(Report::default())
}
