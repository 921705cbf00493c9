//! Creating topics, for `weir bench kafka` and the tests' brokers.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;

/// Creates each `(name, partitions)` topic with one replica, connecting
/// with `properties` (TLS, SASL) besides the servers.
pub fn create_topics(
    bootstrap_servers: &str,
    properties: &[(String, String)],
    topics: &[(&str, i32)],
) -> Result<(), String> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap_servers);
    for (key, value) in properties {
        config.set(key, value);
    }
    let admin: AdminClient<DefaultClientContext> = config
        .create()
        .map_err(|e| format!("cannot create a Kafka admin client: {e}"))?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
        .collect();
    // The admin futures complete on librdkafka's threads; any executor will do.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting a runtime: {e}"))?;
    let results = runtime
        .block_on(admin.create_topics(&new, &AdminOptions::new()))
        .map_err(|e| format!("creating topics at {bootstrap_servers} (is the broker up?): {e}"))?;
    for result in results {
        result.map_err(|(topic, e)| format!("creating topic {topic}: {e}"))?;
    }
    Ok(())
}
