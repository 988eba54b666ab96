//! A task function's signature, read into a model: which parameters are the input and
//! which the worker provides, and what it returns.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, ToTokens};
use syn::{
    FnArg, GenericArgument, Ident, ItemFn, Pat, PathArguments, ReturnType, Type, Visibility,
};

use crate::errors::Errors;

/// One parameter of a task function.
pub enum Param {
    /// Part of the input (`name` for the arguments struct).
    Input { name: Ident, ty: Type },
    /// `State<T>`, provided by the worker (`ty` is the whole type, `state` the `T`).
    State { ty: Type, state: Type },
    /// `TaskInstance` or `&TaskInstance`.
    Instance { by_ref: bool },
}

/// What `#[task]` and `#[durable]` need to know about the annotated function.
pub struct Signature {
    pub ident: Ident,
    pub vis: Visibility,
    pub is_async: bool,
    pub params: Vec<Param>,
    pub output: Type,
}

impl Signature {
    /// Reads `item`, reporting (into `errors`) what no task function may do. `None` when
    /// the signature is beyond use (the item is re-emitted as it is).
    pub fn read(item: &ItemFn, attribute: &str, errors: &mut Errors) -> Option<Signature> {
        let sig = &item.sig;
        let before = errors.len();
        if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
            errors.spanned(
                &sig.generics,
                format!("a #[{attribute}] function cannot be generic: its input is decoded from storage into one known type"),
            );
        }
        if let Some(variadic) = &sig.variadic {
            errors.spanned(
                variadic,
                format!("a #[{attribute}] function cannot be variadic"),
            );
        }
        let output = match &sig.output {
            // A result type is generic (`Result<T, E>` or an alias of it); anything else is
            // refused here, before type checking would report it more than once.
            ReturnType::Type(_, ty) if !is_generic_path(ty) => {
                errors.spanned(
                    ty,
                    format!("a #[{attribute}] function returns `Result<T, E>`: `T` is what a run stores, `E` why it failed"),
                );
                None
            }
            ReturnType::Type(_, ty) => Some((**ty).clone()),
            ReturnType::Default => {
                errors.spanned(
                    &sig.ident,
                    format!("a #[{attribute}] function returns `Result<T, E>`: add a return type such as `-> Result<(), TaskError>`"),
                );
                None
            }
        };
        let mut params = Vec::new();
        for (index, input) in sig.inputs.iter().enumerate() {
            let typed = match input {
                FnArg::Receiver(receiver) => {
                    errors.spanned(
                        receiver,
                        format!("#[{attribute}] goes on a free function, not a method: the worker has no `self` to call it on"),
                    );
                    continue;
                }
                FnArg::Typed(typed) => typed,
            };
            params.push(classify(index, &typed.pat, &typed.ty, errors));
        }
        if errors.len() > before {
            return None;
        }
        Some(Signature {
            ident: sig.ident.clone(),
            vis: item.vis.clone(),
            is_async: sig.asyncness.is_some(),
            params,
            output: output?,
        })
    }

    pub fn inputs(&self) -> impl Iterator<Item = (&Ident, &Type)> {
        self.params.iter().filter_map(|param| match param {
            Param::Input { name, ty } => Some((name, ty)),
            _ => None,
        })
    }

    /// `let` statements binding what the worker provides, then the arguments of the call
    /// to the user's function, in order. `input` gives the expression of the i-th input.
    pub fn call_args(
        &self,
        mut input: impl FnMut(usize, &Ident) -> TokenStream,
    ) -> (TokenStream, Vec<TokenStream>) {
        let mut lets = TokenStream::new();
        let mut args = Vec::new();
        let mut inputs = 0;
        for (index, param) in self.params.iter().enumerate() {
            let local = format_ident!("__zart_param_{}", index);
            match param {
                Param::Input { name, .. } => {
                    args.push(input(inputs, name));
                    inputs += 1;
                }
                Param::State { ty, .. } => {
                    lets.extend(quote! {
                        let #local: #ty = <#ty as ::zart::__private::FromContext>::from_context()?;
                    });
                    args.push(local.into_token_stream());
                }
                Param::Instance { by_ref, .. } => {
                    lets.extend(quote! {
                        let #local = <::zart::scheduler::TaskInstance as ::zart::__private::FromContext>::from_context()?;
                    });
                    args.push(match by_ref {
                        true => quote!(&#local),
                        false => local.into_token_stream(),
                    });
                }
            }
        }
        (lets, args)
    }

    /// The types of the states the function takes.
    pub fn states(&self) -> impl Iterator<Item = &Type> {
        self.params.iter().filter_map(|param| match param {
            Param::State { state, .. } => Some(state),
            _ => None,
        })
    }
}

fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        Type::Group(group) => last_segment(&group.elem),
        _ => None,
    }
}

fn classify(index: usize, pat: &Pat, ty: &Type, errors: &mut Errors) -> Param {
    if let Some(segment) = last_segment(ty) {
        if segment.ident == "State" {
            if let PathArguments::AngleBracketed(args) = &segment.arguments {
                if let Some(GenericArgument::Type(state)) = args.args.first() {
                    return Param::State {
                        ty: ty.clone(),
                        state: state.clone(),
                    };
                }
            }
        }
        if segment.ident == "TaskInstance" {
            return Param::Instance { by_ref: false };
        }
    }
    if let Type::Reference(reference) = ty {
        if last_segment(&reference.elem).is_some_and(|s| s.ident == "TaskInstance") {
            if reference.mutability.is_some() {
                errors.spanned(ty, "the task instance is shared: take `&TaskInstance`");
            }
            return Param::Instance { by_ref: true };
        }
        errors.spanned(
            ty,
            "a task's input is decoded from storage and owned by the call: take it by value (`Order`, not `&Order`)",
        );
    }
    if let Type::ImplTrait(_) = ty {
        errors.spanned(ty, "a task's input has one concrete type, the one it is decoded into: `impl Trait` cannot be decoded");
    }
    let name = match pat {
        Pat::Ident(binding) => binding.ident.clone(),
        _ => format_ident!("arg{}", index),
    };
    Param::Input {
        name,
        ty: ty.clone(),
    }
}

/// Whether `ty` is a path whose last segment takes generic arguments (`Result<T, E>`).
pub fn is_generic_path(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => {
            path.path.segments.last().is_some_and(|segment| {
                matches!(segment.arguments, PathArguments::AngleBracketed(_))
            })
        }
        Type::Group(group) => is_generic_path(&group.elem),
        Type::Paren(paren) => is_generic_path(&paren.elem),
        _ => false,
    }
}
