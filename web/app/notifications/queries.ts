// The GraphQL documents of the console's Notifications page (issue 16): the endpoints, the
// deliveries (newest first), one delivery's attempt log, and the operator's resend. Checked and
// typed by graphql-codegen like web/app/batches/queries.ts.
import { graphql } from "@/lib/gql";

graphql(`
  fragment NotificationDeliveryRowFields on NotificationDelivery {
    id
    event
    endpointId
    notificationEndpointByEndpointId {
      name
    }
    subjectId
    status
    attempts
    lastStatusCode
    lastError
    createdAt
    deliveredAt
    nextAttemptAt
    giveUpAt
  }
`);

export const NOTIFICATIONS_QUERY = graphql(`
  query Notifications($endpoints: Int!, $deliveries: Int!, $condition: NotificationDeliveryCondition) {
    notificationEndpoints(first: $endpoints) {
      totalCount
      nodes {
        id
        name
        url
        events
        agentId
        agentByAgentId {
          name
        }
        secretName
        retryInitialSeconds
        enabled
      }
    }
    notificationDeliveries(first: $deliveries, condition: $condition) {
      totalCount
      pageInfo {
        hasNextPage
      }
      nodes {
        ...NotificationDeliveryRowFields
      }
    }
  }
`);

export const NOTIFICATION_DELIVERY_QUERY = graphql(`
  query NotificationDelivery($id: UUID!) {
    notificationDelivery(id: $id) {
      ...NotificationDeliveryRowFields
      payload
      attemptLog(first: 100) {
        nodes {
          id
          attempt
          startedAt
          finishedAt
          outcome
          statusCode
          error
        }
      }
    }
  }
`);

export const RESEND_NOTIFICATION = graphql(`
  mutation ResendNotification($id: UUID!) {
    resendNotification(id: $id) {
      notificationDelivery {
        ...NotificationDeliveryRowFields
      }
    }
  }
`);
