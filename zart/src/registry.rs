//! Which handler runs a task of which name.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::Arc;

use zart_core::schedules::RecurringTask;

use crate::durable::{Durable, DurableExecution};
use crate::error::RegistryError;
use crate::inject::States;
use crate::task::ScheduledTask;

/// The handlers a [`Worker`](crate::scheduler::Worker) runs, by task name.
///
/// [`register`](Self::register) chains and never fails on the spot: a registration the
/// registry refuses (an empty name, a second handler for one name) is kept, and the worker
/// refuses to start with it ([`Worker::run`](crate::scheduler::Worker::run) returns
/// [`Error::Registry`](crate::Error::Registry)). [`try_register`](Self::try_register)
/// reports the same mistakes at once.
///
/// ```
/// # use zart::prelude::async_trait;
/// # use zart::scheduler::{CompletionHandler, OnComplete, ScheduledTask, SchedulerTaskError, TaskInstance};
/// # struct SendEmail;
/// # #[async_trait]
/// # impl ScheduledTask for SendEmail {
/// #     async fn execute(&self, _: &TaskInstance) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
/// #         Ok(OnComplete::done())
/// #     }
/// # }
/// # struct SendSms;
/// # #[async_trait]
/// # impl ScheduledTask for SendSms {
/// #     async fn execute(&self, _: &TaskInstance) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
/// #         Ok(OnComplete::done())
/// #     }
/// # }
/// use zart::scheduler::{RegistryError, TaskRegistry};
///
/// let mut registry = TaskRegistry::new();
/// registry.register("send-email", SendEmail).register("send-sms", SendSms);
/// assert_eq!(registry.names(), ["send-email", "send-sms"]);
/// assert!(registry.validate().is_ok());
///
/// let duplicate = registry.try_register("send-email", SendEmail).map(|_| ());
/// assert_eq!(duplicate, Err(RegistryError::DuplicateName("send-email".into())));
/// ```
#[derive(Clone, Default)]
pub struct TaskRegistry {
    handlers: HashMap<String, Arc<dyn ScheduledTask>>,
    recurring: Vec<RecurringTask>,
    durable: Vec<String>,
    /// Task name to queue, for the tasks outside [`DEFAULT_QUEUE`].
    queues: HashMap<String, String>,
    states: Arc<States>,
    /// The states tasks ask for: (task name, state type, its name).
    required_states: Vec<(String, TypeId, &'static str)>,
    refused: Vec<RegistryError>,
}

/// The queue of every task not put in another one with [`TaskRegistry::set_queue`].
pub const DEFAULT_QUEUE: &str = "default";

impl TaskRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        TaskRegistry::default()
    }

    /// Registers `task` as the handler of tasks named `name`. A refused registration
    /// (empty or taken name) keeps the first handler and stops the worker from starting.
    pub fn register<T: ScheduledTask>(&mut self, name: impl Into<String>, task: T) -> &mut Self {
        self.register_arc(name, Arc::new(task))
    }

    /// [`register`](Self::register) for a shared handler.
    pub fn register_arc(
        &mut self,
        name: impl Into<String>,
        task: Arc<dyn ScheduledTask>,
    ) -> &mut Self {
        if let Err(refused) = self.try_register_arc(name, task) {
            self.refused.push(refused);
        }
        self
    }

    /// Registers `task` under `name`, or says at once why not.
    pub fn try_register<T: ScheduledTask>(
        &mut self,
        name: impl Into<String>,
        task: T,
    ) -> Result<&mut Self, RegistryError> {
        self.try_register_arc(name, Arc::new(task))
    }

    /// [`try_register`](Self::try_register) for a shared handler.
    pub fn try_register_arc(
        &mut self,
        name: impl Into<String>,
        task: Arc<dyn ScheduledTask>,
    ) -> Result<&mut Self, RegistryError> {
        let name = name.into();
        if name.is_empty() {
            return Err(RegistryError::EmptyName);
        }
        if self.handlers.contains_key(&name) {
            return Err(RegistryError::DuplicateName(name));
        }
        self.handlers.insert(name, task);
        Ok(self)
    }

    /// Registers a durable execution under `name`: a task of that name runs its body, with
    /// checkpointed steps.
    pub fn durable<D: DurableExecution>(
        &mut self,
        name: impl Into<String>,
        execution: D,
    ) -> &mut Self {
        let name = name.into();
        match self.try_register(name.clone(), Durable(execution)) {
            Ok(_) => self.durable.push(name),
            Err(refused) => self.refused.push(refused),
        }
        self
    }

    /// Puts the task registered as `task_name` in `queue` (every task starts in
    /// [`DEFAULT_QUEUE`]). A worker told to serve some queues only
    /// ([`WorkerConfig::queues`](crate::scheduler::WorkerConfig::queues)) claims only their tasks.
    ///
    /// ```
    /// # use zart::prelude::async_trait;
    /// # use zart::scheduler::{CompletionHandler, OnComplete, ScheduledTask, SchedulerTaskError, TaskInstance};
    /// # struct SendEmail;
    /// # #[async_trait]
    /// # impl ScheduledTask for SendEmail {
    /// #     async fn execute(&self, _: &TaskInstance) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
    /// #         Ok(OnComplete::done())
    /// #     }
    /// # }
    /// use zart::scheduler::TaskRegistry;
    ///
    /// let mut registry = TaskRegistry::new();
    /// registry.register("send-email", SendEmail).set_queue("send-email", "emails");
    /// assert_eq!(registry.queue_of("send-email"), Some("emails"));
    /// assert_eq!(registry.queue_names(), ["emails"]);
    /// ```
    pub fn set_queue(&mut self, task_name: &str, queue: impl Into<String>) -> &mut Self {
        let queue = queue.into();
        if !self.handlers.contains_key(task_name) {
            self.refused
                .push(RegistryError::NotRegistered(task_name.to_owned()));
        } else if queue.is_empty() {
            self.refused
                .push(RegistryError::EmptyQueue(task_name.to_owned()));
        } else if queue == DEFAULT_QUEUE {
            self.queues.remove(task_name);
        } else {
            self.queues.insert(task_name.to_owned(), queue);
        }
        self
    }

    /// The queue of the task registered as `task_name`.
    pub fn queue_of(&self, task_name: &str) -> Option<&str> {
        self.handlers.contains_key(task_name).then(|| {
            self.queues
                .get(task_name)
                .map_or(DEFAULT_QUEUE, String::as_str)
        })
    }

    /// The queues the registered tasks are in, sorted.
    pub fn queue_names(&self) -> Vec<&str> {
        let mut queues: Vec<&str> = self
            .handlers
            .keys()
            .map(|name| self.queues.get(name).map_or(DEFAULT_QUEUE, String::as_str))
            .collect();
        queues.sort_unstable();
        queues.dedup();
        queues
    }

    /// The names registered with [`durable`](Self::durable).
    pub fn durable_names(&self) -> &[String] {
        &self.durable
    }

    /// Adds a recurring task: every worker given this registry stores (or updates) its
    /// schedule when it starts. A refused one (invalid, or a schedule id taken) stops the
    /// worker from starting.
    pub fn recurring(&mut self, task: RecurringTask) -> &mut Self {
        if let Err(refused) = self.try_recurring(task) {
            self.refused.push(refused);
        }
        self
    }

    /// [`recurring`](Self::recurring), saying at once why not.
    pub fn try_recurring(&mut self, task: RecurringTask) -> Result<&mut Self, RegistryError> {
        task.validate()?;
        if self
            .recurring
            .iter()
            .any(|r| r.schedule_id() == task.schedule_id())
        {
            return Err(RegistryError::DuplicateSchedule(
                task.schedule_id().to_owned(),
            ));
        }
        self.recurring.push(task);
        Ok(self)
    }

    /// The recurring tasks, in registration order.
    pub fn recurring_tasks(&self) -> &[RecurringTask] {
        &self.recurring
    }

    /// Registers shared application state, handed to every task function that takes a
    /// [`State<T>`](crate::State) parameter. One value per type: a second is refused.
    pub fn state<T: Send + Sync + 'static>(&mut self, value: T) -> &mut Self {
        self.state_arc(Arc::new(value))
    }

    /// [`state`](Self::state) for a value already shared.
    pub fn state_arc<T: Send + Sync + 'static>(&mut self, value: Arc<T>) -> &mut Self {
        if !Arc::make_mut(&mut self.states).insert(value) {
            self.refused
                .push(RegistryError::DuplicateState(std::any::type_name::<T>()));
        }
        self
    }

    /// Notes that task `task` takes `State<T>`: the worker will not start without one.
    pub fn require_state<T: Send + Sync + 'static>(&mut self, task: &str) -> &mut Self {
        self.required_states.push((
            task.to_owned(),
            TypeId::of::<T>(),
            std::any::type_name::<T>(),
        ));
        self
    }

    /// Takes over everything `other` registered (handlers, durable executions, recurring
    /// tasks, queues, states); what clashes with this registry is refused as if registered here.
    pub fn merge(&mut self, other: TaskRegistry) -> &mut Self {
        for (name, handler) in other.handlers {
            let durable = other.durable.contains(&name);
            match self.try_register_arc(name.clone(), handler) {
                Ok(_) => {
                    if let Some(queue) = other.queues.get(&name) {
                        self.queues.insert(name.clone(), queue.clone());
                    }
                    if durable {
                        self.durable.push(name);
                    }
                }
                Err(refused) => self.refused.push(refused),
            }
        }
        for task in other.recurring {
            self.recurring(task);
        }
        let clashes = Arc::make_mut(&mut self.states).merge(&other.states);
        self.refused
            .extend(clashes.into_iter().map(RegistryError::DuplicateState));
        self.required_states.extend(other.required_states);
        self.refused.extend(other.refused);
        self
    }

    pub(crate) fn states(&self) -> &Arc<States> {
        &self.states
    }

    /// Notes a registration refused elsewhere (a builder), so that the worker will not start.
    pub(crate) fn refuse(&mut self, refused: RegistryError) {
        self.refused.push(refused);
    }

    /// The first registration [`register`](Self::register) refused, if any.
    /// A task that takes a state nobody registered counts as refused too.
    pub fn validate(&self) -> Result<(), RegistryError> {
        if let Some(refused) = self.refused.first() {
            return Err(refused.clone());
        }
        match self
            .required_states
            .iter()
            .find(|(_, type_id, _)| !self.states.contains(*type_id))
        {
            Some((task, _, state)) => Err(RegistryError::MissingState {
                task: task.clone(),
                state,
            }),
            None => Ok(()),
        }
    }

    /// The handler registered under `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn ScheduledTask>> {
        self.handlers.get(name)
    }

    /// The registered names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.handlers.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// How many handlers are registered.
    pub fn len(&self) -> usize {
        self.handlers.len()
    }

    /// Whether no handler is registered.
    pub fn is_empty(&self) -> bool {
        self.handlers.is_empty()
    }
}

impl std::fmt::Debug for TaskRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskRegistry")
            .field("names", &self.names())
            .field("recurring", &self.recurring)
            .field("refused", &self.refused)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{CompletionHandler, OnComplete, SchedulerTaskError, TaskInstance};

    struct Noop;

    #[async_trait::async_trait]
    impl ScheduledTask for Noop {
        async fn execute(
            &self,
            _: &TaskInstance,
        ) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
            Ok(OnComplete::done())
        }
    }

    #[test]
    fn refused_registrations_are_remembered_and_the_first_handler_kept() {
        let mut registry = TaskRegistry::new();
        registry
            .register("a", Noop)
            .register("a", Noop)
            .register("", Noop);
        assert_eq!(registry.names(), ["a"]);
        assert_eq!(
            registry.validate(),
            Err(RegistryError::DuplicateName("a".into()))
        );
    }

    #[test]
    fn a_queue_is_set_only_for_a_registered_name_and_only_when_named() {
        let mut registry = TaskRegistry::new();
        registry.register("a", Noop).set_queue("a", "");
        assert_eq!(
            registry.validate(),
            Err(RegistryError::EmptyQueue("a".into()))
        );
        assert_eq!(registry.queue_of("a"), Some(DEFAULT_QUEUE));

        let mut registry = TaskRegistry::new();
        registry.set_queue("b", "emails").register("b", Noop);
        assert_eq!(
            registry.validate(),
            Err(RegistryError::NotRegistered("b".into()))
        );
        assert_eq!(registry.queue_of("b"), Some(DEFAULT_QUEUE));
        assert_eq!(registry.queue_of("c"), None);
    }

    #[test]
    fn merging_keeps_each_task_in_its_queue() {
        let mut emails = TaskRegistry::new();
        emails.register("send", Noop).set_queue("send", "emails");
        let mut registry = TaskRegistry::new();
        registry.register("resize", Noop).merge(emails);
        assert_eq!(registry.queue_of("send"), Some("emails"));
        assert_eq!(registry.queue_names(), ["default", "emails"]);
        assert_eq!(registry.validate(), Ok(()));
    }
}
