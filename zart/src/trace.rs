//! Tracing: the span of each task attempt (`zart.task`) and of each step that runs
//! (`zart.step`), and the trace context a task carries from the code that scheduled it.
//!
//! Spans are plain [`tracing`] spans, seen by any subscriber. With the `opentelemetry`
//! feature, scheduling a task captures the OpenTelemetry context of the current span (in the
//! W3C Trace Context format, stored with the task), and each attempt's span joins that
//! trace: the first attempt as a child of the span that scheduled it, later attempts (a
//! retry, a durable execution resuming after a sleep) as new traces' roots linked to it, as
//! OpenTelemetry's messaging conventions advise. Install a `tracing-opentelemetry` layer
//! to export them; the `otel_stdout` example shows one.

use std::time::Duration;

use tracing::field::Empty;
use tracing::Span;
use zart_core::queue::ClaimedTask;
use zart_core::task::TraceContext;

use crate::durable::StepError;

/// The span of one attempt of `task`, in `queue`. Its `outcome` field is filled in when
/// the attempt ends ([`record_outcome`]).
pub(crate) fn attempt_span(task: &ClaimedTask, queue: Option<&str>) -> Span {
    let span = tracing::info_span!(
        "zart.task",
        otel.name = %format_args!("run {}", task.task_name),
        otel.kind = "consumer",
        otel.status_code = Empty,
        messaging.system = "zart",
        messaging.operation.type = "process",
        task.id = %task.lease.task_id,
        task.name = %task.task_name,
        task.attempt = task.attempt,
        queue = queue.unwrap_or(""),
        outcome = Empty,
        error = Empty,
    );
    if let Some(context) = &task.trace_context {
        bridge::adopt(&span, context, first_run(task));
    }
    span
}

/// Whether this claim runs the task for the first time: its first attempt, with nothing
/// recorded yet. A durable execution resuming after a sleep or an event is still on its
/// first attempt (suspensions do not count), but its step log says it ran before.
fn first_run(task: &ClaimedTask) -> bool {
    task.attempt == 1 && task.steps.as_ref().is_none_or(Vec::is_empty)
}

/// How an attempt ended, recorded on its span: `completed`, `retry`, `failed`,
/// `suspended` or `tick`, with the error of a failure.
pub(crate) fn record_outcome(span: &Span, outcome: &str, error: Option<&str>) {
    span.record("outcome", outcome);
    if let Some(error) = error {
        span.record("error", error);
        if outcome == "failed" || outcome == "retry" {
            span.record("otel.status_code", "ERROR");
        }
    }
}

/// The span of a step body that runs (a replayed step does not run, and has none).
pub(crate) fn step_span(name: &str, seq: Option<u32>, attempts_before: u32) -> Span {
    tracing::info_span!(
        "zart.step",
        otel.name = %format_args!("step {name}"),
        step.name = %name,
        step.seq = seq,
        step.attempts_before = attempts_before,
        outcome = Empty,
        elapsed_ms = Empty,
    )
}

/// Records how a step ended on its span: `completed`, `failed` (its retries used up, or a
/// permanent error) or `interrupted` (the execution stopped inside it: a suspension for
/// the step's own backoff, a lost lease).
pub(crate) fn record_step<T>(span: &Span, ran: &Result<T, StepError>, elapsed: Duration) {
    let outcome = match ran {
        Ok(_) => "completed",
        Err(StepError::Interrupted(_)) => "interrupted",
        Err(_) => "failed",
    };
    span.record("outcome", outcome);
    span.record(
        "elapsed_ms",
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
    );
}

/// The trace context of the current span, to store with a task scheduled now; `None`
/// without the `opentelemetry` feature, or outside any sampled trace.
pub(crate) fn current_context() -> Option<TraceContext> {
    bridge::context_of(&Span::current())
}

/// The trace context of `span`, to store with the tasks it schedules (follow-ups).
pub(crate) fn context_of(span: &Span) -> Option<TraceContext> {
    bridge::context_of(span)
}

#[cfg(feature = "opentelemetry")]
mod bridge {
    use opentelemetry::trace::{
        SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    };
    use tracing::Span;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use zart_core::task::TraceContext;

    pub(super) fn context_of(span: &Span) -> Option<TraceContext> {
        let context = span.context();
        let span = context.span();
        let of = span.span_context();
        if !of.is_valid() {
            return None;
        }
        Some(TraceContext {
            traceparent: format!(
                "00-{}-{}-{:02x}",
                of.trace_id(),
                of.span_id(),
                of.trace_flags().to_u8()
            ),
            tracestate: of.trace_state().header(),
        })
    }

    /// Joins `span` to the trace `stored` names: as its child on the task's first run,
    /// linked to it on later ones. A malformed stored context is passed over (the attempt
    /// is traced on its own): tracing must never fail a task.
    pub(super) fn adopt(span: &Span, stored: &TraceContext, first_run: bool) {
        let Some(remote) = parse(stored) else {
            tracing::debug!(traceparent = %stored.traceparent, "a stored trace context does not parse; passed over");
            return;
        };
        match first_run {
            true => {
                let parent = opentelemetry::Context::new().with_remote_span_context(remote);
                if let Err(error) = span.set_parent(parent) {
                    tracing::debug!(%error, "the attempt's span could not join its trace");
                }
            }
            false => span.add_link(remote),
        }
    }

    /// A `traceparent` of version 00 (and its `tracestate`), as the W3C format has it.
    fn parse(stored: &TraceContext) -> Option<SpanContext> {
        let mut parts = stored.traceparent.split('-');
        let (version, trace, parent, flags) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != "00" || parts.next().is_some() {
            return None;
        }
        let trace_id = TraceId::from_hex(trace).ok()?;
        let span_id = SpanId::from_hex(parent).ok()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        let state = match stored.tracestate.as_str() {
            "" => TraceState::default(),
            header => header.parse().unwrap_or_default(),
        };
        let context = SpanContext::new(trace_id, span_id, TraceFlags::new(flags), true, state);
        context.is_valid().then_some(context)
    }
}

#[cfg(not(feature = "opentelemetry"))]
mod bridge {
    use tracing::Span;
    use zart_core::task::TraceContext;

    pub(super) fn context_of(_: &Span) -> Option<TraceContext> {
        None
    }

    pub(super) fn adopt(_: &Span, _: &TraceContext, _: bool) {}
}
