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
    let name = &h.name;
    let doc = &h.doc;
    // `async` is syntax: a plain fn runs on the blocking pool. Everything else about the
    // shape is decided by trait resolution on the types (see `swill::__private`).
    let (probe, register) = if item.sig.asyncness.is_some() {
        (quote!(#p::reply_probe), quote!(#p::handler))
    } else {
        (quote!(#p::blocking_probe), quote!(#p::blocking))
    };

    // One check per argument, spanned on its type, so a type that is no extractor is named
    // where it is written (the whole-function bound below only names the function).
    let arg_checks = item.sig.inputs.iter().filter_map(|arg| match arg {
        syn::FnArg::Typed(pat) => {
            let ty = &pat.ty;
            Some(quote_spanned! {ty.span()=>
                #p::assert_arg::<_, #ty>();
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
                #(#arg_checks)*
                #[allow(unused_imports)]
                use #p::{
                    ReplyTier1 as _, ReplyTier2 as _, ReplyTier3 as _, ReplyTier4 as _,
                    ReplyTier5 as _, ReplyTier6 as _, ViaNoValidate as _, ViaValidate as _,
                };
                #[allow(clippy::needless_borrow)]
                let kind = (&&&&&&#probe(&Self::call)).reply_kind();
                #[allow(clippy::needless_borrow)]
                let validate = (&#p::input_probe(&Self::call)).validator();
                #register(kind, #p::Meta { name: #name, doc: #doc }, validate, Self::call)
            }
        }
    }
}
