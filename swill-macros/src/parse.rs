//! Reads the attribute's options and the handler's item into a [`Handler`] description.
//!
//! Only syntax is read here: the name, the doc comment, whether the function is `async`. The
//! call shape is decided by trait resolution in `swill`, never by reading type names.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ItemFn, Lit, Meta, Path, Token};

/// What the expansion needs to know about one handler.
pub(crate) struct Handler {
    pub(crate) item: ItemFn,
    pub(crate) name: String,
    pub(crate) doc: String,
    pub(crate) krate: Path,
    /// The contract the handler implements (`contract = path`): its name, checked types.
    pub(crate) contract: Option<Path>,
}

pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Handler> {
    let item: ItemFn = syn::parse2(item)?;
    let mut name = None;
    let mut krate: Path = syn::parse_quote!(::swill);
    let mut contract: Option<Path> = None;
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    for meta in metas {
        match &meta {
            Meta::NameValue(nv) if nv.path.is_ident("name") => name = Some(lit_str(&nv.value)?),
            Meta::NameValue(nv) if nv.path.is_ident("crate") => {
                krate = syn::parse_str(&lit_str(&nv.value)?)?;
            }
            Meta::NameValue(nv) if nv.path.is_ident("contract") => match &nv.value {
                Expr::Path(p) if p.qself.is_none() => contract = Some(p.path.clone()),
                other => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "expected the path of a contract declared with `swill::contract!`",
                    ))
                }
            },
            _ => return Err(syn::Error::new_spanned(
                meta,
                "unknown option: expected `name = \"...\"`, `contract = path` or `crate = \"...\"`",
            )),
        }
    }
    let sig = &item.sig;
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &sig.generics,
            "swill handlers cannot be generic",
        ));
    }
    if let Some(r) = sig.receiver() {
        return Err(syn::Error::new_spanned(
            r,
            "swill handlers are free functions, not methods",
        ));
    }
    if let (Some(_), Some(c)) = (&name, &contract) {
        return Err(syn::Error::new_spanned(
            c,
            "a handler with a contract serves the contract's rpc name: drop `name = ...`",
        ));
    }
    let name = match name {
        Some(n) if n.is_empty() => {
            return Err(syn::Error::new(
                Span::call_site(),
                "the handler name must not be empty",
            ))
        }
        Some(n) => n,
        None => sig.ident.to_string().trim_start_matches("r#").to_owned(),
    };

    let doc = item
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => lit_str(&nv.value).ok(),
            _ => None,
        })
        .map(|line| line.strip_prefix(' ').map(str::to_owned).unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n");

    Ok(Handler {
        item,
        name,
        doc,
        krate,
        contract,
    })
}

fn lit_str(e: &Expr) -> syn::Result<String> {
    match e {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.value()),
        _ => Err(syn::Error::new_spanned(e, "expected a string literal")),
    }
}
