//! Renders a [`Handler`] into the unit value, its `call` function and one registration call.

use proc_macro2::TokenStream;
use quote::quote;

use crate::parse::{Handler, Input, Output};

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

    let kind = |fallible: bool| {
        if fallible {
            quote!(#p::Fallible)
        } else {
            quote!(#p::Plain)
        }
    };
    let (req_ty, req_info) = match &h.input {
        Input::None => (quote!(#p::Ignored), quote!(#p::TypeInfo::none())),
        Input::Single(t) | Input::Stream(t) => (quote!(#t), quote!(#p::TypeInfo::of::<#t>())),
    };
    let blocking = item.sig.asyncness.is_none();
    let call = match (&h.input, &h.output) {
        (Input::Stream(_), Output::Single { fallible }) => {
            let k = kind(*fallible);
            quote!(#p::client_streaming::<#req_ty, #k, _, _, _>)
        }
        (
            Input::Stream(_),
            Output::Stream {
                outer_fallible,
                items_fallible,
            },
        ) => {
            let (ko, ki) = (kind(*outer_fallible), kind(*items_fallible));
            quote!(#p::bidi::<#req_ty, #ko, #ki, _, _, _, _>)
        }
        (
            _,
            Output::Stream {
                outer_fallible,
                items_fallible,
            },
        ) => {
            let (ko, ki) = (kind(*outer_fallible), kind(*items_fallible));
            quote!(#p::server_streaming::<#req_ty, #ko, #ki, _, _, _, _>)
        }
        (_, Output::Single { fallible }) if blocking => {
            let k = kind(*fallible);
            quote!(#p::blocking::<#req_ty, #k, _, _, _>)
        }
        (_, Output::Single { fallible }) => {
            let k = kind(*fallible);
            quote!(#p::unary::<#req_ty, #k, _, _, _>)
        }
    };

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
                #[allow(unused_imports)]
                use #p::{ViaNoValidate as _, ViaValidate as _};
                #[allow(clippy::needless_borrow)]
                let validate = (&#p::Probe::<#req_ty>::new()).validator();
                #call(
                    #p::Meta { name: #name, doc: #doc, request: #req_info },
                    validate,
                    Self::call,
                )
            }
        }
    }
}
