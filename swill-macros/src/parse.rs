//! Reads the attribute's options and the handler's signature into a [`Handler`] description.

use proc_macro2::{Span, TokenStream};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{
    Expr, ExprLit, FnArg, GenericArgument, ItemFn, Lit, Meta, Path, PathArguments, ReturnType,
    Token, Type, TypeImplTrait, TypeParamBound,
};

/// What the expansion needs to know about one handler.
pub(crate) struct Handler {
    pub(crate) item: ItemFn,
    pub(crate) name: String,
    pub(crate) doc: String,
    pub(crate) krate: Path,
    pub(crate) input: Input,
    pub(crate) output: Output,
}

/// The request side.
pub(crate) enum Input {
    /// No payload argument: the data is ignored.
    None,
    /// `Request<T>`.
    Single(Type),
    /// `Streaming<T>`.
    Stream(Type),
}

/// The response side.
pub(crate) enum Output {
    /// A single value; `fallible` when the return type is a `Result`.
    Single { fallible: bool },
    /// A stream; `outer_fallible` when it is wrapped in a `Result`, `items_fallible` when the
    /// items are `Result`s.
    Stream {
        outer_fallible: bool,
        items_fallible: bool,
    },
}

pub(crate) fn parse(args: TokenStream, item: TokenStream) -> syn::Result<Handler> {
    let item: ItemFn = syn::parse2(item)?;
    let mut name = None;
    let mut krate: Path = syn::parse_quote!(::swill);
    let mut force_stream = false;
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    for meta in metas {
        match &meta {
            Meta::NameValue(nv) if nv.path.is_ident("name") => name = Some(lit_str(&nv.value)?),
            Meta::NameValue(nv) if nv.path.is_ident("crate") => {
                krate = syn::parse_str(&lit_str(&nv.value)?)?;
            }
            Meta::Path(p) if p.is_ident("stream") => force_stream = true,
            _ => {
                return Err(syn::Error::new_spanned(
                    meta,
                    "unknown option: expected `name = \"...\"`, `stream` or `crate = \"...\"`",
                ))
            }
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

    let mut input = Input::None;
    for arg in &sig.inputs {
        let FnArg::Typed(pat) = arg else { continue };
        let found = match last_segment(&pat.ty) {
            Some(("Request", Some(t))) => Some(Input::Single(t)),
            Some(("Streaming", Some(t))) => Some(Input::Stream(t)),
            _ => None,
        };
        if let Some(found) = found {
            if !matches!(input, Input::None) {
                return Err(syn::Error::new_spanned(
                    &pat.ty,
                    "a handler takes at most one Request<T> or Streaming<T> argument",
                ));
            }
            input = found;
        }
    }

    let output = match &sig.output {
        ReturnType::Default => Output::Single { fallible: false },
        ReturnType::Type(_, ty) => classify_output(ty, force_stream),
    };
    if sig.asyncness.is_none() {
        if matches!(output, Output::Stream { .. }) || matches!(input, Input::Stream(_)) {
            return Err(syn::Error::new_spanned(
                &sig.fn_token,
                "plain (non-async) handlers serve single calls only; make streaming handlers `async fn`",
            ));
        }
    }

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
        input,
        output,
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

/// The last path segment's name and its first type argument, e.g. `("Request", Some(T))`.
fn last_segment(ty: &Type) -> Option<(&'static str, Option<Type>)> {
    let Type::Path(tp) = ty else { return None };
    let seg = tp.path.segments.last()?;
    let name = match seg.ident.to_string().as_str() {
        "Request" => "Request",
        "Streaming" => "Streaming",
        "Result" => "Result",
        "BoxStream" => "BoxStream",
        _ => return None,
    };
    let arg = match &seg.arguments {
        PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
            GenericArgument::Type(t) => Some(t.clone()),
            _ => None,
        }),
        _ => None,
    };
    Some((name, arg))
}

fn is_result(ty: &Type) -> bool {
    matches!(last_segment(ty), Some(("Result", _)))
}

/// `impl Stream<Item = X>` → `Some(Some(X))`; `BoxStream<'_, X>` → `Some(Some(X))`.
fn stream_item(ty: &Type) -> Option<Option<Type>> {
    match ty {
        Type::ImplTrait(TypeImplTrait { bounds, .. }) => bounds.iter().find_map(|b| {
            let TypeParamBound::Trait(t) = b else {
                return None;
            };
            let seg = t.path.segments.last()?;
            if seg.ident != "Stream" && seg.ident != "TryStream" {
                return None;
            }
            let PathArguments::AngleBracketed(a) = &seg.arguments else {
                return Some(None);
            };
            Some(a.args.iter().find_map(|g| match g {
                GenericArgument::AssocType(at) if at.ident == "Item" => Some(at.ty.clone()),
                _ => None,
            }))
        }),
        Type::Path(_) => match last_segment(ty) {
            Some(("BoxStream", item)) => Some(item),
            _ => None,
        },
        _ => None,
    }
}

fn classify_output(ty: &Type, force_stream: bool) -> Output {
    if let Some(item) = stream_item(ty) {
        return Output::Stream {
            outer_fallible: false,
            items_fallible: item.as_ref().is_none_or(is_result),
        };
    }
    if let Some(("Result", Some(ok))) = last_segment(ty) {
        if let Some(item) = stream_item(&ok) {
            return Output::Stream {
                outer_fallible: true,
                items_fallible: item.as_ref().is_none_or(is_result),
            };
        }
        if force_stream {
            return Output::Stream {
                outer_fallible: true,
                items_fallible: true,
            };
        }
        return Output::Single { fallible: true };
    }
    if force_stream {
        return Output::Stream {
            outer_fallible: false,
            items_fallible: true,
        };
    }
    Output::Single { fallible: false }
}
