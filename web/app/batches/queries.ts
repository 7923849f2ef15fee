// The GraphQL documents of the console's Batches pages (issue 15): the list, one batch with its
// throughput, its items, the batchProgress subscription and the operator's controls. Checked and
// typed by graphql-codegen like web/lib/queries.ts (codegen.ts reads every file under web/app).
import { graphql } from "@/lib/gql";

graphql(`
  fragment BatchProgressFields on BatchProgress {
    total
    queued
    running
    succeeded
    failed
    cancelled
    inputTokens
    outputTokens
    costUsd
    itemsPerMinute
    etaSeconds
  }
`);

graphql(`
  fragment BatchRowFields on Batch {
    id
    name
    status
    agentId
    agentVersion
    agentByAgentId {
      name
    }
    maxParallel
    createdAt
    startedAt
    finishedAt
    updatedAt
    progress {
      ...BatchProgressFields
    }
  }
`);

graphql(`
  fragment BatchFields on Batch {
    ...BatchRowFields
    priority
    onItemError
    stopAfterFailures
    stopAfterRatio
    deadline
    error
    # the chart: finished items per minute, last 30 minutes, oldest first
    throughput(minutes: 30) {
      minute
      finished
    }
  }
`);

export const BATCHES_QUERY = graphql(`
  query Batches($condition: BatchCondition, $first: Int!) {
    batches(condition: $condition, orderBy: CREATED_AT_DESC, first: $first) {
      totalCount
      pageInfo {
        hasNextPage
      }
      nodes {
        ...BatchRowFields
      }
    }
  }
`);

export const BATCH_QUERY = graphql(`
  query Batch($id: UUID!) {
    batch(id: $id) {
      ...BatchFields
    }
  }
`);

export const BATCH_PROGRESS_SUBSCRIPTION = graphql(`
  subscription BatchProgress($batchId: UUID!) {
    batchProgress(batchId: $batchId) {
      batchId
      batch {
        ...BatchFields
      }
    }
  }
`);

export const BATCH_ITEMS_QUERY = graphql(`
  query BatchItems($id: UUID!, $condition: BatchItemCondition, $first: Int!, $offset: Int!) {
    batch(id: $id) {
      id
      items(condition: $condition, orderBy: ORDINAL_ASC, first: $first, offset: $offset) {
        totalCount
        nodes {
          id
          customId
          status
          attempts
          output
          error
          finishedAt
          runId
        }
      }
    }
  }
`);

export const PAUSE_BATCH = graphql(`
  mutation PauseBatch($batchId: UUID!) {
    pauseBatch(batchId: $batchId) {
      batch {
        ...BatchFields
      }
    }
  }
`);

export const RESUME_BATCH = graphql(`
  mutation ResumeBatch($batchId: UUID!) {
    resumeBatch(batchId: $batchId) {
      batch {
        ...BatchFields
      }
    }
  }
`);

export const START_BATCH = graphql(`
  mutation StartBatch($batchId: UUID!) {
    startBatch(batchId: $batchId) {
      batch {
        ...BatchFields
      }
    }
  }
`);

export const CANCEL_BATCH = graphql(`
  mutation CancelBatch($batchId: UUID!) {
    cancelBatch(batchId: $batchId) {
      batch {
        ...BatchFields
      }
    }
  }
`);

export const SET_BATCH_PARALLEL = graphql(`
  mutation SetBatchParallel($batchId: UUID!, $maxParallel: Int!) {
    setBatchParallel(batchId: $batchId, maxParallel: $maxParallel) {
      batch {
        ...BatchFields
      }
    }
  }
`);

export const RETRY_FAILED_ITEMS = graphql(`
  mutation RetryFailedItems($batchId: UUID!, $includeCancelled: Boolean) {
    retryFailedItems(batchId: $batchId, includeCancelled: $includeCancelled) {
      retried
      batch {
        ...BatchFields
      }
    }
  }
`);

/** The run page's link back to its batch (RunFields carries neither the batch nor the item). */
export const RUN_BATCH_QUERY = graphql(`
  query RunBatch($id: UUID!) {
    runById(id: $id) {
      id
      batchId
      batchItemByBatchItemId {
        id
        customId
      }
      batchByBatchId {
        id
        name
      }
    }
  }
`);
