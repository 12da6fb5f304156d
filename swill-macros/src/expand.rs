//! Renders a [`Handler`] into the unit value, its `call` function and one registration call.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;

use crate::parse::Handler;

pub(crate) fn expand(h: &Handler) -> TokenStream {
    let krate = &h.krate;
    let p = quote!(#krate::__private);
    let item = &h.item;
    let vis = &item.vis;
    let ident = &item.sig.ident;
    let docs: Vec<_> = item
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .collect();
    let others: Vec<_> = item
        .attrs
        .iter()
        .filter(|a| !a.path().is_ident("doc"))
        .collect();
    let mut sig = item.sig.clone();
    sig.ident = syn::Ident::new("call", sig.ident.span());
    let block = &item.block;
    let doc = &h.doc;
    // `async` is syntax: a plain fn runs on the blocking pool. Everything else about the
    // shape is decided by trait resolution on the types (see `swill::__private`).
    let (probe, register, check) = if item.sig.asyncness.is_some() {
        (
            quote!(#p::reply_probe),
            quote!(#p::handler),
            quote!(#p::check_contract),
        )
    } else {
        (
            quote!(#p::blocking_probe),
            quote!(#p::blocking),
            quote!(#p::check_contract_blocking),
        )
    };
    // With a contract, the name is the contract's and the types are checked against it
    // (compile errors spanned on the contract's path).
    let absolute = h.contract.is_some();
    let (name, contract_check) = match &h.contract {
        Some(c) => (
            quote!(<#c as #krate::contract::Rpc>::NAME),
            quote_spanned! {c.span()=>
                #check::<#c, _, _, _>(&kind, &Self::call);
            },
        ),
        None => {
            let name = &h.name;
            (quote!(#name), quote!())
        }
    };

    // One check per argument, spanned on its type, so a type that is no extractor is named
    // where it is written (the whole-function bound below only names the function).
    let arg_checks = item.sig.inputs.iter().filter_map(|arg| match arg {
        syn::FnArg::Typed(pat) => {
            let ty = &pat.ty;
            Some(quote_spanned! {ty.span()=>
                let __claims = __claims.then::<_, #ty>();
            })
        }
        syn::FnArg::Receiver(_) => None,
    });

    quote! {
        #(#docs)*
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy, Debug, Default)]
        #vis struct #ident;

        impl #ident {
            #(#docs)*
            #(#others)*
            #vis #sig #block
        }

        impl #p::IntoHandler for #ident {
            fn into_handler(self) -> #p::HandlerDef {
                let __claims = #p::no_claim();
                #(#arg_checks)*
                let _ = __claims;
                #[allow(unused_imports)]
                use #p::{
                    ReplyTier1 as _, ReplyTier2 as _, ReplyTier3 as _, ReplyTier4 as _,
                    ReplyTier5 as _, ReplyTier6 as _, ViaNoValidate as _, ViaValidate as _,
                };
                #[allow(clippy::needless_borrow)]
                let kind = (&&&&&&#probe(&Self::call)).reply_kind();
                #[allow(clippy::needless_borrow)]
                let validate = (&#p::input_probe(&Self::call)).validator();
                #contract_check
                #register(kind, #p::Meta { name: #name, doc: #doc, absolute: #absolute }, validate, Self::call)
            }
        }
    }
}
