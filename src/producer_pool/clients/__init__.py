"""One module per Kafka client (kafka-python, confluent-kafka, aiokafka), each behind its
extra, with the pieces they share: transactional ids, redaction of secrets, and
`_kafka_compat`, the one place that reads kafka-python's internals."""
