//! Tests of the checks of `#[job]` options and signatures.

use super::*;
use quote::quote;

fn errors_of(args: proc_macro2::TokenStream, func: proc_macro2::TokenStream) -> Vec<String> {
    let mut errors = Errors::default();
    let args = crate::parse::parse_args(args, &mut errors).unwrap();
    let job = check(args, syn::parse2(func).unwrap(), &mut errors);
    match errors.finish() {
        Ok(()) => {
            assert!(job.is_some());
            Vec::new()
        }
        Err(e) => {
            assert!(job.is_none());
            e.into_iter().map(|e| e.to_string()).collect()
        }
    }
}

#[test]
fn valid() {
    let mut errors = Errors::default();
    let args = crate::parse::parse_args(
        quote!(
            name = "n",
            queue = "q",
            concurrency = 8,
            attempts = 5,
            backoff = "fixed(5s)",
            timeout = "1h30m",
            priority = -128,
            crate = "qc"
        ),
        &mut errors,
    )
    .unwrap();
    let func = syn::parse_quote! {
        pub async fn f(a: A, ctx: JobContext, d: Data<Db>) -> Result<(), E> {}
    };
    let job = check(args, func, &mut errors).unwrap();
    assert!(errors.is_empty());
    assert_eq!(job.name, "n");
    assert_eq!(job.queue.as_deref(), Some("q"));
    assert_eq!(job.concurrency, Some(8));
    assert_eq!(job.attempts, Some(5));
    assert!(matches!(
        job.backoff,
        Some(Backoff::Spec(BackoffSpec::Fixed(5_000)))
    ));
    assert_eq!(job.timeout, Some(5_400_000));
    assert_eq!(job.priority, Some(-128));
    assert!(job.krate.is_ident("qc"));
    assert!(job.payload.is_some());
    assert_eq!(job.extras.len(), 2);
}

#[test]
fn default_name_is_unraw_function_name() {
    let mut errors = Errors::default();
    let func = syn::parse_quote!(
        async fn r#match() -> Result<(), E> {}
    );
    let job = check(Args::default(), func, &mut errors).unwrap();
    assert_eq!(job.name, "match");
    assert!(job.payload.is_none());
}

#[test]
fn every_error_is_reported() {
    let errors = errors_of(
        quote!(
            name = "has space",
            queue = "",
            concurrency = 0,
            attempts = -1,
            backoff = "linear(1s)",
            timeout = "0s",
            priority = 128,
            crate = "not a path"
        ),
        quote!(
            const unsafe extern "C" fn f<'a, T, const N: usize>(
                &self,
                x: impl Tr,
                y: &str,
                z: Vec<&'_ u8>,
                w: (&'static str),
            ) where
                T: Clone,
            {
            }
        ),
    );
    assert_eq!(
        errors,
        [
            "invalid job name `has space`: only ASCII letters, digits and `_-.:/@` are allowed",
            "invalid queue name ``: must not be empty",
            "`concurrency` must be at least 1",
            "`attempts` must be at least 1",
            "invalid backoff `linear(1s)`: expected `fixed(<delay>)` or `exponential(<delay>)`, \
             the latter optionally with `max = <duration>` and `jitter = <bool>`, e.g. \
             `exponential(1s, max = 10m)`",
            "the timeout must be longer than zero",
            "`priority` must be between -128 and 127",
            "invalid `crate` path `not a path`: expected the path of `queue_core`, e.g. \
             `crate = \"::queue_core\"`",
            "a `#[job]` handler cannot be a `const fn`",
            "a `#[job]` handler cannot be an `unsafe fn`",
            "a `#[job]` handler cannot have an `extern` ABI",
            "a `#[job]` handler must be an `async fn`",
            "a `#[job]` handler cannot have lifetime parameters: its arguments must not borrow",
            "a `#[job]` handler cannot have type parameters",
            "a `#[job]` handler cannot have const parameters",
            "a `#[job]` handler cannot have a `where` clause",
            "a `#[job]` handler cannot take `self`: it must be a free function",
            "a `#[job]` handler cannot take `impl Trait` arguments: they make it generic; \
             name a concrete type",
            BORROW,
            BORROW,
            BORROW,
            "a job handler must return `Result<T, E>`; add e.g. `-> Result<(), JobError>`",
        ]
    );
}

#[test]
fn value_kinds() {
    let func = quote!(
        async fn f() -> Result<(), E> {}
    );
    assert_eq!(
        errors_of(quote!(queue = mail), func.clone()),
        ["expected a string, e.g. `queue = \"mail\"`"]
    );
    assert_eq!(
        errors_of(quote!(attempts = "5"), func.clone()),
        ["expected an integer, e.g. `attempts = 5`"]
    );
    assert_eq!(
        errors_of(quote!(priority = -x), func.clone()),
        ["expected an integer, e.g. `priority = 5`"]
    );
    assert_eq!(
        errors_of(quote!(attempts = 4294967296), func.clone()),
        ["`attempts` must be at most 4294967295"]
    );
    assert_eq!(
        errors_of(
            quote!(concurrency = 99999999999999999999999999999999999999999),
            func.clone()
        ),
        ["`concurrency` must be at most 4294967295"]
    );
    assert_eq!(
        errors_of(quote!(backoff = 5), func.clone()),
        [
            "expected a backoff string such as `backoff = \"exponential(1s, max = 10m)\"`, or \
          the path of a `fn(u32) -> Duration`"
        ]
    );
    assert!(errors_of(quote!(backoff = my::policy, priority = 127), func.clone()).is_empty());
    assert_eq!(
        errors_of(quote!(name = "x".repeat(201)), func.clone()),
        ["expected a string, e.g. `name = \"send_welcome\"`"]
    );
    let long = "x".repeat(201);
    assert_eq!(
        errors_of(quote!(name = #long), func),
        [format!("invalid job name `{long}`: longer than 200 bytes")]
    );
}

#[test]
fn default_name_must_be_valid() {
    assert_eq!(
        errors_of(
            quote!(),
            quote!(
                async fn café() -> Result<(), E> {}
            )
        ),
        [
            "invalid job name `café`: only ASCII letters, digits and `_-.:/@` are allowed; \
          choose another with `name = \"...\"`"
        ]
    );
    assert!(errors_of(
        quote!(name = "cafe"),
        quote!(
            async fn café() -> Result<(), E> {}
        )
    )
    .is_empty());
}

#[test]
fn allowed_types() {
    let ok = |func| assert_eq!(errors_of(quote!(), func), Vec::<String>::new());
    ok(quote!(
        async fn f(a: Box<dyn Fn(&str) + Send>, b: fn(&u8), c: Vec<&'static str>) -> Result<(), E> {
        }
    ));
    ok(quote!(
        async fn f(mut a: A, B { b }: B, _: C, (d, e): (D, E)) -> Result<(), E> {}
    ));
    assert_eq!(
        errors_of(
            quote!(),
            quote!(
                async fn f() -> Result<impl Display, E> {}
            )
        ),
        ["a `#[job]` handler cannot return `impl Trait`: name a concrete type"]
    );
}

#[test]
fn shards() {
    let func = quote!(
        async fn f(x: u32) -> Result<(), JobError> {
            Ok(())
        }
    );
    assert!(errors_of(quote!(shards = 4), func.clone()).is_empty());
    assert!(errors_of(quote!(shards = 1), func.clone()).is_empty());
    assert_eq!(
        errors_of(quote!(shards = 0), func.clone()),
        ["`shards` must be between 1 and 256"]
    );
    assert_eq!(
        errors_of(quote!(shards = 257), func.clone()),
        ["`shards` must be between 1 and 256"]
    );
    assert_eq!(
        errors_of(quote!(shards = 2, rate = "5/1s"), func.clone()),
        ["`shards` cannot be combined with `rate`, which is kept per lane: each shard would apply it on its own"]
    );
}
