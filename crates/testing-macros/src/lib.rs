//! The `#[gen_test]` attribute of `tornado-testing`, which re-exports it;
//! depend on that crate, not on this one.
//!
//! The attribute turns an `async fn` into a `#[test]` that runs it on a
//! fresh `IOLoop` through `tornado_testing::AsyncTest`; this crate only
//! rewrites the function, all behaviour lives there.
#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::{Literal, Span};
use quote::quote;
use syn::{Error, ItemFn, Lit, ReturnType, parse_macro_input};

/// Runs an `async fn` test on a fresh `IOLoop`, failing it on an error, a
/// panic (in the body or leaked into the loop) or a timeout.
///
/// Arguments: `timeout = <seconds>` (an integer or a float; the default is
/// `ASYNC_TEST_TIMEOUT` from the environment, else 5 s) and `each_backend`
/// (run the body once per IOLoop backend this OS has). The body may return
/// `()` or a `Result<(), E>` with `E: Debug`. Other attributes
/// (`#[should_panic]`, `#[ignore]`) stay on the generated test.
///
/// See `tornado_testing::gen_test` for an example.
#[proc_macro_attribute]
pub fn gen_test(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut timeout: Option<f64> = None;
    let mut each_backend = false;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("timeout") {
            let seconds = match meta.value()?.parse::<Lit>()? {
                Lit::Int(i) => i.base10_parse::<u64>()? as f64,
                Lit::Float(f) => f.base10_parse::<f64>()?,
                other => {
                    return Err(Error::new(
                        other.span(),
                        "expected seconds, e.g. `timeout = 5`",
                    ));
                }
            };
            if !(seconds > 0.0 && seconds.is_finite()) {
                return Err(meta.error("the timeout must be a positive number of seconds"));
            }
            timeout = Some(seconds);
            Ok(())
        } else if meta.path.is_ident("each_backend") {
            each_backend = true;
            Ok(())
        } else {
            Err(meta.error("expected `timeout = <seconds>` or `each_backend`"))
        }
    });
    parse_macro_input!(args with parser);
    let function = parse_macro_input!(item as ItemFn);
    match expand(function, timeout, each_backend) {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn expand(
    function: ItemFn,
    timeout: Option<f64>,
    each_backend: bool,
) -> Result<proc_macro2::TokenStream, Error> {
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
        ..
    } = function;
    if sig.asyncness.is_none() {
        return Err(Error::new_spanned(
            sig.fn_token,
            "#[gen_test] needs an `async fn`",
        ));
    }
    if !sig.inputs.is_empty() || !sig.generics.params.is_empty() {
        return Err(Error::new_spanned(
            &sig.inputs,
            "a #[gen_test] function takes no arguments and no generics",
        ));
    }
    let name = &sig.ident;
    let output = match &sig.output {
        ReturnType::Default => quote!(),
        ReturnType::Type(arrow, ty) => quote!(#arrow #ty),
    };
    // The body keeps its own signature in an inner `async fn`, so that `?`
    // and the return type work as written.
    let body = syn::Ident::new("__tornado_gen_test_body", Span::mixed_site());
    let timeout = timeout.map(|s| {
        let s = Literal::f64_suffixed(s);
        quote!(.timeout(::std::time::Duration::from_secs_f64(#s)))
    });
    let each_backend = each_backend.then(|| quote!(.each_backend()));
    Ok(quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis fn #name() {
            async fn #body() #output #block
            ::tornado_testing::AsyncTest::new()
                #timeout
                #each_backend
                .run(#body);
        }
    })
}
