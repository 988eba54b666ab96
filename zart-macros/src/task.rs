//! `#[task]` and `#[durable]`: the function stays as written; beside it come a hidden
//! definition type implementing the runtime's traits, and a module of the function's
//! name holding its typed handles (`checkout::start(&zart, id, input)`).

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{Ident, ItemFn, LitStr, Type};

use crate::args::Args;
use crate::errors::{self, Errors};
use crate::options::Options;
use crate::recurring::{self, Recurring};
use crate::signature::Signature;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Task,
    Durable,
}

impl Kind {
    fn attribute(self) -> &'static str {
        match self {
            Kind::Task => "task",
            Kind::Durable => "durable",
        }
    }

    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::Task => &["name", "queue", "priority", "retry", "timeout"],
            Kind::Durable => &["name", "queue", "priority", "retry", "timeout", "deadline"],
        }
    }
}

pub fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let mut function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            errors.spanned(
                &item,
                format!("#[{}] goes on a function: `async fn name(input: Input) -> Result<Output, TaskError>`", kind.attribute()),
            );
            return item.into_iter().chain(errors.to_compile_errors()).collect();
        }
    };
    let schedules = recurring::take_attributes(&mut function.attrs);
    let args = Args::parse(args, kind.attribute(), kind.keys(), &mut errors);
    let options = Options::read(&args, &mut errors);
    let signature = Signature::read(&function, kind.attribute(), &mut errors);
    if kind == Kind::Durable && function.sig.asyncness.is_none() {
        // Through the return type: the body's `.await`s and the generated call stay quiet.
        let error = syn::Error::new_spanned(
            &function.sig.ident,
            "a #[durable] function is `async`: its steps, sleeps and waits are awaited",
        );
        errors::in_return_type(&mut function, &error);
    }
    let generated = signature.map(|signature| {
        check(kind, &signature, &mut errors);
        let name = options.name_or(&signature.ident);
        let has_input = signature.inputs().next().is_some();
        let schedules = recurring::read_all(&schedules, &name, has_input, &mut errors);
        generate(kind, &signature, &options, &name, &schedules)
    });
    let errors = errors.to_compile_errors();
    quote! {
        #function
        #generated
        #errors
    }
}

/// What only a task refuses (a durable execution packs several inputs).
fn check(kind: Kind, signature: &Signature, errors: &mut Errors) {
    if kind != Kind::Task {
        return;
    }
    if let Some((_, extra)) = signature.inputs().nth(1) {
        errors.spanned(
            extra,
            "a #[task] takes at most one input: put the values in one struct, or use #[durable], which packs several inputs for you",
        );
    }
}

fn generate(
    kind: Kind,
    signature: &Signature,
    options: &Options,
    name: &LitStr,
    schedules: &[Recurring],
) -> TokenStream {
    let ident = &signature.ident;
    let vis = &signature.vis;
    let output = &signature.output;
    let inputs: Vec<(&Ident, &Type)> = signature.inputs().collect();
    let args_struct = format_ident!("__zart_{}_Args", ident);
    let (input_type, args_item) = match inputs.as_slice() {
        [] => (quote!(()), None),
        [(_, ty)] => (ty.to_token_stream(), None),
        several => {
            let fields = several.iter().map(|(name, ty)| quote!(pub #name: #ty));
            let item = quote! {
                #[doc(hidden)]
                #[allow(non_camel_case_types)]
                #[derive(::zart::__private::serde::Serialize, ::zart::__private::serde::Deserialize)]
                #[serde(crate = "::zart::__private::serde")]
                #vis struct #args_struct {
                    #(#fields,)*
                }
            };
            (quote!(#args_struct), Some(item))
        }
    };

    let input_locals: Vec<Ident> = (0..inputs.len())
        .map(|i| format_ident!("__zart_input_{}", i))
        .collect();
    let (lets, call_args) = signature.call_args(|i, _| input_locals[i].to_token_stream());
    let call = quote_spanned!(ident.span()=> #ident(#(#call_args),*));
    let methods = options.trait_methods();
    let states = signature.states();
    let recurring = schedules.iter().map(|schedule| &schedule.registration);
    let priority = options
        .priority
        .map(|priority| quote!(const PRIORITY: i16 = #priority;));
    let queue = options
        .queue
        .as_ref()
        .map(|queue| quote!(registry.set_queue(<Self as ::zart::TaskDefinition>::NAME, #queue);));

    let unpack = match input_locals.as_slice() {
        [] => quote!(let () = __zart_data;),
        [local] => quote!(let #local = __zart_data;),
        locals => {
            let names = inputs.iter().map(|(name, _)| name);
            quote!(let #args_struct { #(#names: #locals),* } = __zart_data;)
        }
    };
    // The user's function name spans the generated `async`: a future that is not `Send`
    // is then reported on the function, not on the attribute.
    let asyncness = quote_spanned!(ident.span()=> async);
    let (handler, output_type, register) = match kind {
        Kind::Task => {
            let decode = quote! {
                let __zart_data = ::zart::__private::task_input::<Self>(__zart_instance)?;
                #unpack
            };
            let run = match signature.is_async {
                true => quote!(#call.await),
                false => quote!(::zart::__private::run_blocking(move || #call).await?),
            };
            // Spanned on the return type: a result that cannot be stored is reported there.
            let into_attempt = quote_spanned! {output.span()=>
                ::zart::__private::into_attempt(__zart_returned)
            };
            let handler = quote! {
                #[::zart::__private::async_trait]
                impl ::zart::scheduler::ScheduledTask for #ident {
                    #asyncness fn execute(
                        &self,
                        __zart_instance: &::zart::scheduler::TaskInstance,
                    ) -> ::core::result::Result<
                        ::std::boxed::Box<dyn ::zart::scheduler::CompletionHandler>,
                        ::zart::scheduler::SchedulerTaskError,
                    > {
                        #decode
                        #lets
                        let __zart_returned = #run;
                        #into_attempt
                    }
                    #methods
                }
            };
            (
                handler,
                quote_spanned!(output.span()=> <#output as ::zart::__private::TaskReturn>::Ok),
                quote!(registry.register(<Self as ::zart::TaskDefinition>::NAME, #ident {});),
            )
        }
        Kind::Durable => {
            // A durable body that is not async was reported in its return type, which
            // keeps this call quiet.
            let run = match signature.is_async {
                true => quote!(#call.await),
                false => quote!(#call),
            };
            let durable_output = quote_spanned! {output.span()=>
                <#output as ::zart::__private::DurableReturn>::Ok
            };
            let handler = quote! {
                #[::zart::__private::async_trait]
                impl ::zart::DurableExecution for #ident {
                    type Data = <Self as ::zart::TaskDefinition>::Input;
                    type Output = #durable_output;

                    #asyncness fn run(
                        &self,
                        __zart_data: Self::Data,
                    ) -> ::core::result::Result<Self::Output, ::zart::TaskError> {
                        #unpack
                        #lets
                        ::zart::__private::into_outcome(#run)
                    }
                    #methods
                }
            };
            (
                handler,
                durable_output,
                quote!(registry.durable(<Self as ::zart::TaskDefinition>::NAME, #ident {});),
            )
        }
    };

    let handles = handles(kind, signature, &inputs, &args_struct);
    let doc = format!(
        "The {} [`{ident}`](fn@{ident}), as a type: its name, input and output \
         ([`TaskDefinition`](zart::TaskDefinition)), typed starts and handles, and its entry in \
         `zart::registry!`. Generated by `#[zart::{}]`.",
        match kind {
            Kind::Task => "task",
            Kind::Durable => "durable execution",
        },
        kind.attribute(),
    );
    quote! {
        #[doc = #doc]
        #[allow(non_camel_case_types)]
        #vis struct #ident {}

        #args_item

        const _: () = {
            impl ::zart::TaskDefinition for #ident {
                const NAME: &'static str = #name;
                #priority
                type Input = #input_type;
                type Output = #output_type;

                fn register(registry: &mut ::zart::scheduler::TaskRegistry) {
                    #register
                    #queue
                    #(registry.require_state::<#states>(<Self as ::zart::TaskDefinition>::NAME);)*
                    #(#recurring)*
                }
            }

            #handler
        };

        #handles
    }
}

/// The typed starts and handles, as associated functions of the definition type.
fn handles(
    kind: Kind,
    signature: &Signature,
    inputs: &[(&Ident, &Type)],
    args_struct: &Ident,
) -> TokenStream {
    let ident = &signature.ident;
    let vis = &signature.vis;
    let params: Vec<Ident> = inputs
        .iter()
        .map(|(name, _)| match name.to_string().as_str() {
            "zart" | "tx" | "id" | "at" | "options" => format_ident!("{}_", name),
            _ => Ident::new(&name.to_string(), proc_macro2::Span::call_site()),
        })
        .collect();
    let types: Vec<&Type> = inputs.iter().map(|(_, ty)| *ty).collect();
    let input = match params.as_slice() {
        [] => quote!(()),
        [one] => quote!(#one),
        several => {
            let names = inputs.iter().map(|(name, _)| name);
            quote!(#args_struct { #(#names: #several),* })
        }
    };
    let (verb, now, now_doc, at_doc, with_doc, absent_doc) = match kind {
        Kind::Task => (
            "schedule",
            format_ident!("schedule_now"),
            "Schedules run `id` of the task, due now, with this input.",
            "Schedules run `id` of the task, due at `at`, with this input.",
            "Schedules run `id` of the task as `options` say (due time, priority), with this input.",
            "Schedules run `id` of the task, due now, unless a run with that id exists.",
        ),
        Kind::Durable => (
            "start",
            format_ident!("start"),
            "Starts execution `id`, due now, with this input.",
            "Starts execution `id`, due at `at`, with this input.",
            "Starts execution `id` as `options` say (due time, priority), with this input.",
            "Starts execution `id`, due now, unless one with that id exists.",
        ),
    };
    let at = format_ident!("{verb}_at");
    let with = format_ident!("{verb}_with");
    let if_absent = format_ident!("{verb}_if_absent");
    let now_in = format_ident!("{verb}_in");
    let at_in = format_ident!("{verb}_at_in");
    let with_in = format_ident!("{verb}_with_in");
    let if_absent_in = format_ident!("{verb}_if_absent_in");
    let in_doc = format!(
        "`{now}` in the caller's transaction (`&mut *tx` of a sqlx `Transaction`, `&tx` of \
         a rusqlite one, or a store's `join`): workers see the run once the caller commits, \
         never if it rolls back. See `zart::in_transaction`."
    );
    quote! {
        #[allow(dead_code)]
        impl #ident {
            /// The name its runs are stored under.
            #vis const NAME: &'static str = <Self as ::zart::TaskDefinition>::NAME;

            #[doc = #now_doc]
            ///
            /// The id is an idempotency key: an existing one is `Error::AlreadyExists`.
            #vis async fn #now(
                zart: &::zart::Zart,
                id: impl ::core::convert::Into<::std::string::String>,
                #(#params: #types,)*
            ) -> ::zart::Result<::zart::Handle<Self>> {
                zart.start::<Self>(id, #input).await
            }

            #[doc = #at_doc]
            #vis async fn #at(
                zart: &::zart::Zart,
                id: impl ::core::convert::Into<::std::string::String>,
                at: ::zart::__private::DateTime,
                #(#params: #types,)*
            ) -> ::zart::Result<::zart::Handle<Self>> {
                zart.start_at::<Self>(id, at, #input).await
            }

            #[doc = #with_doc]
            #vis async fn #with(
                zart: &::zart::Zart,
                id: impl ::core::convert::Into<::std::string::String>,
                options: ::zart::scheduler::StartOptions,
                #(#params: #types,)*
            ) -> ::zart::Result<::zart::Handle<Self>> {
                zart.start_with::<Self>(id, #input, options).await
            }

            #[doc = #absent_doc]
            ///
            /// Returns the run's handle either way, and whether this call started it.
            #vis async fn #if_absent(
                zart: &::zart::Zart,
                id: impl ::core::convert::Into<::std::string::String>,
                #(#params: #types,)*
            ) -> ::zart::Result<(::zart::Handle<Self>, bool)> {
                zart.start_if_absent::<Self>(id, #input).await
            }

            #[doc = #in_doc]
            ///
            /// The id is an idempotency key: an existing one is `Error::AlreadyExists`, and
            /// the caller's transaction goes on.
            #vis async fn #now_in(
                tx: impl ::zart::in_transaction::InTransaction,
                id: impl ::core::convert::Into<::std::string::String>,
                #(#params: #types,)*
            ) -> ::zart::Result<()> {
                ::zart::in_transaction::start_in::<Self>(tx, id, #input).await
            }

            #[doc = #at_doc]
            ///
            /// In the caller's transaction, as the `_in` functions are.
            #vis async fn #at_in(
                tx: impl ::zart::in_transaction::InTransaction,
                id: impl ::core::convert::Into<::std::string::String>,
                at: ::zart::__private::DateTime,
                #(#params: #types,)*
            ) -> ::zart::Result<()> {
                ::zart::in_transaction::start_at_in::<Self>(tx, id, at, #input).await
            }

            #[doc = #with_doc]
            ///
            /// In the caller's transaction, as the `_in` functions are.
            #vis async fn #with_in(
                tx: impl ::zart::in_transaction::InTransaction,
                id: impl ::core::convert::Into<::std::string::String>,
                options: ::zart::scheduler::StartOptions,
                #(#params: #types,)*
            ) -> ::zart::Result<()> {
                ::zart::in_transaction::start_with_in::<Self>(tx, id, #input, options).await
            }

            #[doc = #absent_doc]
            ///
            /// In the caller's transaction, as the `_in` functions are. Returns whether this
            /// call started it.
            #vis async fn #if_absent_in(
                tx: impl ::zart::in_transaction::InTransaction,
                id: impl ::core::convert::Into<::std::string::String>,
                #(#params: #types,)*
            ) -> ::zart::Result<bool> {
                ::zart::in_transaction::start_if_absent_in::<Self>(tx, id, #input).await
            }

            /// The handle of run `id`, started earlier.
            #vis fn handle(
                zart: &::zart::Zart,
                id: impl ::core::convert::Into<::std::string::String>,
            ) -> ::zart::Handle<Self> {
                zart.handle::<Self>(id)
            }
        }
    }
}
