// The GraphQL documents of the console's Webhooks pages (issue 16): the list (with the latest
// deliveries, to count the last 24 hours), one webhook with its settings and delivery log, and the
// operator's test delivery. Checked and typed by graphql-codegen like web/app/batches/queries.ts.
import { graphql } from "@/lib/gql";

// The list reads each webhook's latest 100 deliveries to count those of the last 24 hours: a
// literal, since the API's cost limit (api/graphql/limits.ts) counts a page size given by a
// variable as its maximum (1000), and 1000 webhooks × 1000 deliveries is over it.
export const WEBHOOKS_QUERY = graphql(`
  query Webhooks($first: Int!) {
    webhooks(first: $first) {
      totalCount
      pageInfo {
        hasNextPage
      }
      nodes {
        id
        name
        agentId
        agentByAgentId {
          name
        }
        verify
        secretNames
        enabled
        path
        deliveries(first: 100) {
          totalCount
          nodes {
            id
            receivedAt
          }
        }
      }
    }
  }
`);

export const WEBHOOK_QUERY = graphql(`
  query Webhook($id: UUID!, $deliveries: Int!) {
    webhook(id: $id) {
      id
      name
      agentId
      agentByAgentId {
        name
      }
      verify
      secretNames
      signatureHeader
      signaturePrefix
      toleranceSeconds
      dedupePointer
      inputTemplate
      threadKeyPointer
      maxBodyBytes
      enabled
      path
      createdAt
      updatedAt
      deliveries(first: $deliveries) {
        totalCount
        nodes {
          id
          receivedAt
          deliveryKey
          verifiedWith
          duplicates
          lastDuplicateAt
          test
          threadKey
          payloadBytes
          runId
          run {
            id
            status
          }
        }
      }
    }
  }
`);

export const SEND_TEST_WEBHOOK_DELIVERY = graphql(`
  mutation SendTestWebhookDelivery($id: UUID!, $payload: JSON) {
    sendTestWebhookDelivery(id: $id, payload: $payload) {
      runId
      deliveryId
      duplicate
      run {
        id
        status
      }
    }
  }
`);
