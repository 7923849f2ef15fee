// The GraphQL documents of the console's Schedules pages (issue 16): the list, one schedule with
// its next fire times and recent fires, and the operator's pause (with a note) and resume.
// Checked and typed by graphql-codegen like web/app/batches/queries.ts.
import { graphql } from "@/lib/gql";

graphql(`
  fragment ScheduleRowFields on Schedule {
    id
    name
    agentId
    agentByAgentId {
      name
    }
    cron
    intervalSeconds
    timezone
    nextFireAt
    lastFireAt
    paused
    pausedNote
    specError
    consecutiveFailures
    pauseAfterFailures
    missedTotal
    updatedAt
  }
`);

graphql(`
  fragment ScheduleFields on Schedule {
    ...ScheduleRowFields
    input
    overlap
    catchUp
    catchUpMax
    misfireGraceSeconds
    thread
    threadId
    createdAt
    nextFireTimes(count: 10)
  }
`);

export const SCHEDULES_QUERY = graphql(`
  query Schedules($first: Int!) {
    schedules(first: $first) {
      totalCount
      pageInfo {
        hasNextPage
      }
      nodes {
        ...ScheduleRowFields
      }
    }
  }
`);

export const SCHEDULE_QUERY = graphql(`
  query Schedule($id: UUID!, $fires: Int!) {
    schedule(id: $id) {
      ...ScheduleFields
      fires(first: $fires) {
        totalCount
        nodes {
          id
          occurrenceAt
          firedAt
          startedAt
          status
          reason
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

export const PAUSE_SCHEDULE = graphql(`
  mutation PauseSchedule($id: UUID!, $note: String) {
    pauseSchedule(id: $id, note: $note) {
      schedule {
        ...ScheduleFields
      }
    }
  }
`);

export const RESUME_SCHEDULE = graphql(`
  mutation ResumeSchedule($id: UUID!) {
    resumeSchedule(id: $id) {
      schedule {
        ...ScheduleFields
      }
    }
  }
`);
