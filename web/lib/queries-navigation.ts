// The GraphQL documents of the console's navigation (issue 13, point 11): the runs list with its
// search and filters, the threads list, and the Workers & queue page. Checked and typed by
// graphql-codegen like web/lib/queries.ts (whose RunRowFields fragment the runs list shares).
import { graphql } from "./gql";

graphql(`
  fragment NavRunRowFields on Run {
    ...RunRowFields
    agentVersion
  }
`);

export const NAV_RUNS_QUERY = graphql(`
  query NavRuns($condition: RunCondition, $first: Int!, $after: Cursor) {
    allRuns(condition: $condition, orderBy: CREATED_AT_DESC, first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        ...NavRunRowFields
      }
    }
  }
`);

export const NAV_RUN_UPDATED_ALL = graphql(`
  subscription NavRunsUpdated {
    runUpdated {
      runId
      run {
        ...NavRunRowFields
      }
    }
  }
`);

export const NAV_AGENTS_QUERY = graphql(`
  query NavAgents {
    allAgents(orderBy: NAME_ASC, first: 1000) {
      nodes {
        id
        name
        version
      }
    }
  }
`);

export const THREADS_QUERY = graphql(`
  query Threads($first: Int!, $offset: Int!, $agentId: UUID) {
    threadSummaries(first: $first, offset: $offset, agentId: $agentId) {
      hasNextPage
      nodes {
        threadId
        agentId
        agentName
        createdAt
        lastActivityAt
        runCount
        latestRunId
        latestRunStatus
        title
      }
    }
  }
`);

export const WORKERS_QUERY = graphql(`
  query WorkersAndQueue($queueWindow: Int!, $queueBucket: Int!, $stalledSeconds: Int!) {
    workerStatuses {
      poolId
      hostname
      pid
      concurrency
      startedAt
      lastSeenAt
      steps {
        runId
        agentName
        status
        step
        attempt
        stepStartedAt
        lockedAt
      }
    }
    workerExits(windowSeconds: 86400, first: 50) {
      poolId
      hostname
      pid
      concurrency
      startedAt
      exitedAt
      crashed
      freedRunIds
    }
    queueDepth {
      ready
      scheduled
      running
      oldestReadyAgeMs
    }
    queueHistory(windowSeconds: $queueWindow, bucketSeconds: $queueBucket) {
      start
      ready
      scheduled
      running
      oldestReadyAgeMs
    }
    scheduledTimers(first: 100) {
      runId
      agentName
      kind
      eventName
      until
      since
    }
    stuckRuns(stalledSeconds: $stalledSeconds, first: 100) {
      runId
      agentName
      status
      reason
      step
      attempt
      since
    }
  }
`);
