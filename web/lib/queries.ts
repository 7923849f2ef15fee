// The GraphQL documents of the console. Each `graphql(...)` is checked against the committed
// api/schema.graphql by graphql-codegen (codegen.ts at the repository root), which generates its
// result and variables types into lib/gql/: after editing a document run `npm run codegen`.
// Documents must be literal (no interpolation): fragments are shared by name.
import { graphql } from "./gql";

graphql(`
  fragment RunRowFields on Run {
    id
    status
    agentId
    threadId
    parentRunId
    usage
    error
    # the last report_progress ({message, fraction, at}; null: none): the table's progress cell
    progress
    createdAt
    startedAt
    finishedAt
    updatedAt
    agentByAgentId {
      id
      name
    }
    runStepsByRunId {
      totalCount
    }
    # the step in progress of a running run (runUpdated pushes it on every attempt)
    current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {
      nodes {
        seq
        attempt
        stepKind
        stepName
        outcome
      }
    }
  }
`);

graphql(`
  fragment RunFields on Run {
    id
    status
    agentId
    agentVersion
    threadId
    parentRunId
    continuedBy
    rerunOf
    input
    output
    error
    usage
    createdAt
    startedAt
    finishedAt
    updatedAt
    waiting
    # the run's last progress report (report_progress, 000030; null: none): pushed with
    # runUpdated on every step commit, which is how the run page follows it
    progress
    agentByAgentId {
      id
      name
    }
    stepCount: runStepsByRunId {
      totalCount
    }
    current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {
      nodes {
        ...RunAttemptFields
      }
    }
  }
`);

/** One attempt of a step (everruns.run_attempts, 000013): its worker, its times, how it ended. */
graphql(`
  fragment RunAttemptFields on RunAttempt {
    seq
    attempt
    stepKind
    stepName
    poolId
    hostname
    workerPid
    startedAt
    endedAt
    lastEventAt
    freedAt
    outcome
    error
    eventsFrom
    lastEventSeq
    closedThroughSeq
  }
`);

export const RUN_ATTEMPTS_QUERY = graphql(`
  query RunAttempts($id: UUID!) {
    allRunAttempts(condition: { runId: $id }, orderBy: PRIMARY_KEY_ASC, first: 1000) {
      nodes {
        ...RunAttemptFields
      }
    }
  }
`);

/** The interrupts a continuation run answers: its parent's last RUN_FINISHED. */
graphql(`
  fragment ParentFinished on Run {
    parent: runByParentRunId {
      finished: runEventsByRunId(condition: { type: "RUN_FINISHED" }, orderBy: SEQ_DESC, first: 1) {
        nodes {
          event
        }
      }
    }
  }
`);

export const RUNS_QUERY = graphql(`
  query Runs($condition: RunCondition, $first: Int!, $after: Cursor) {
    allRuns(condition: $condition, orderBy: CREATED_AT_DESC, first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      nodes {
        ...RunRowFields
      }
    }
  }
`);

export const RUN_UPDATED_ALL = graphql(`
  subscription RunsUpdated {
    runUpdated {
      runId
      run {
        ...RunRowFields
      }
    }
  }
`);

export const AGENT_NAMES_QUERY = graphql(`
  query AgentNames {
    allAgents(orderBy: NAME_ASC, first: 1000) {
      nodes {
        id
        name
      }
    }
  }
`);

export const RUN_DETAIL_QUERY = graphql(`
  query RunDetail($id: UUID!) {
    runById(id: $id) {
      ...RunFields
      ...ParentFinished
      # the run's live state (update_state, 000030; up to 256 KiB): the run page's only, not in
      # RunFields, which the thread page reads for each of its runs
      state
      # what the run and the runs it continues spent, against the agent's config.budget (000032)
      budgetSpend
      # when retention removed its events and steps (000038), and the workspace's retention
      historyExpiredAt
      workspaceByWorkspaceId {
        retentionDays
      }
      agentVersionByAgentIdAndAgentVersion {
        version
        config
      }
      runByContinuedBy {
        id
        status
        # its input.resume: approve or reject, and the reason (the conversation shows them)
        input
      }
    }
  }
`);

graphql(`
  fragment RunStepFields on RunStep {
    seq
    kind
    name
    status
    attempt
    startedAt
    finishedAt
    durationMs
    error
    usage
  }
`);

export const RUN_STEPS_QUERY = graphql(`
  query RunSteps($id: UUID!) {
    allRunSteps(condition: { runId: $id }, orderBy: SEQ_ASC, first: 1000) {
      nodes {
        ...RunStepFields
      }
    }
  }
`);

export const RUN_UPDATED_ONE = graphql(`
  subscription RunUpdated($id: UUID!) {
    runUpdated(runId: $id) {
      runId
      run {
        ...RunFields
        # pushed on every step commit: the commit of an update_state step is the one that changes it
        state
      }
    }
  }
`);

/** Every run's changes, to notice a continuation that answers the run shown. */
export const RUN_ANSWERS_SUBSCRIPTION = graphql(`
  subscription RunAnswers {
    runUpdated {
      run {
        parentRunId
      }
    }
  }
`);

export const RUN_EVENTS_SUBSCRIPTION = graphql(`
  subscription RunEvents($runId: UUID!, $after: Int) {
    runEvents(runId: $runId, after: $after) {
      seq
      type
      event
    }
  }
`);

export const START_RUN = graphql(`
  mutation StartRun($agent: String!, $input: JSON!, $threadId: UUID) {
    startRun(agent: $agent, input: $input, threadId: $threadId) {
      runId
    }
  }
`);

export const CANCEL_RUN = graphql(`
  mutation CancelRun($runId: UUID!, $reason: String) {
    cancelRun(runId: $runId, reason: $reason) {
      cancelled
      run {
        id
        status
      }
    }
  }
`);

export const RESUME_RUN = graphql(`
  mutation ResumeRun($runId: UUID!, $resume: JSON!, $reason: String) {
    resumeRun(runId: $runId, resume: $resume, reason: $reason) {
      runId
    }
  }
`);

/** An external event to a run (a waiting run's wait_for_event wakes on its name). */
export const SEND_EVENT = graphql(`
  mutation SendEvent($runId: UUID!, $name: String!, $payload: JSON, $reason: String) {
    sendEvent(runId: $runId, name: $name, payload: $payload, reason: $reason) {
      woke
      run {
        id
        status
        updatedAt
      }
    }
  }
`);

/**
 * A failed or cancelled run again: same thread, agent version and input, replacing it in the
 * thread's history (everruns.rerun_run); with fromStep, continuing from that committed step.
 */
export const RERUN_RUN = graphql(`
  mutation RerunRun($runId: UUID!, $reason: String, $fromStep: Int) {
    rerunRun(runId: $runId, reason: $reason, fromStep: $fromStep) {
      runId
    }
  }
`);

/** Whether a run can be rerun from one of its steps: failed or cancelled, not a continuation, its thread's latest run (000016). */
export const RERUN_FROM_STEP_CONTEXT_QUERY = graphql(`
  query RerunFromStepContext($id: UUID!) {
    runById(id: $id) {
      id
      status
      parentRunId
      agentVersion
      threadByThreadId {
        runsByThreadId(orderBy: [CREATED_AT_DESC, ID_DESC], first: 1) {
          nodes {
            id
          }
        }
      }
    }
  }
`);

/** What a bulk action needs of each selected run: its status and open interrupts. */
export const RUN_INTERRUPTS_QUERY = graphql(`
  query RunInterrupts($id: UUID!) {
    runById(id: $id) {
      id
      status
      continuedBy
      interrupts
    }
  }
`);

export const AGENTS_QUERY = graphql(`
  query Agents {
    allAgents(orderBy: NAME_ASC, first: 1000) {
      nodes {
        id
        name
        config
        version
        createdAt
        updatedAt
        runsByAgentId {
          totalCount
        }
      }
    }
  }
`);

export const AGENT_QUERY = graphql(`
  query Agent($id: UUID!) {
    agentById(id: $id) {
      id
      name
      config
      version
      createdAt
      updatedAt
      agentVersionsByAgentId(orderBy: VERSION_DESC, first: 1000) {
        nodes {
          agentId
          version
          config
          createdAt
        }
      }
      runsByAgentId(orderBy: CREATED_AT_DESC, first: 8) {
        totalCount
        nodes {
          ...RunRowFields
        }
      }
    }
  }
`);

export const CREATE_AGENT = graphql(`
  mutation CreateAgent($name: String!, $config: JSON!) {
    createAgent(input: { agent: { name: $name, config: $config } }) {
      agent {
        id
      }
    }
  }
`);

export const UPDATE_AGENT = graphql(`
  mutation UpdateAgent($id: UUID!, $config: JSON!) {
    updateAgentById(input: { id: $id, agentPatch: { config: $config } }) {
      agent {
        id
        version
      }
    }
  }
`);

export const THREAD_QUERY = graphql(`
  query Thread($id: UUID!) {
    threadById(id: $id) {
      id
      createdAt
      agentByAgentId {
        id
        name
      }
      runsByThreadId(orderBy: CREATED_AT_ASC, first: 1000) {
        nodes {
          ...RunFields
          ...ParentFinished
        }
      }
    }
  }
`);

/** Every run's changes, for the thread page (its own runs). */
export const THREAD_RUNS_UPDATED = graphql(`
  subscription ThreadRunsUpdated {
    runUpdated {
      runId
      run {
        threadId
        status
      }
    }
  }
`);

/** Interrupted runs no continuation answered yet, oldest first, with their interrupts. */
export const APPROVALS_QUERY = graphql(`
  query Approvals {
    runsAwaitingAnswerCount
    runsAwaitingAnswer(first: 200) {
      ...RunRowFields
      input
      finished: runEventsByRunId(condition: { type: "RUN_FINISHED" }, orderBy: SEQ_DESC, first: 1) {
        nodes {
          event
        }
      }
    }
  }
`);

/** Every run's status changes: the approvals inbox and the nav's badge refresh on them. */
export const RUN_STATUS_UPDATED = graphql(`
  subscription RunStatusUpdated {
    runUpdated {
      runId
      run {
        status
        parentRunId
      }
    }
  }
`);

/** The nav's badge. */
export const PENDING_APPROVALS_QUERY = graphql(`
  query PendingApprovals {
    runsAwaitingAnswerCount
  }
`);

export const DASHBOARD_QUERY = graphql(`
  query Dashboard($window: Int!, $bucket: Int!, $days: Int!) {
    runStatusCounts(windowSeconds: $window) {
      status
      count
    }
    runThroughput(windowSeconds: $window, bucketSeconds: $bucket) {
      start
      started
      succeeded
      failed
      cancelled
      interrupted
      steps
      stepP50Ms
      stepP95Ms
    }
    agentDailyUsage(days: $days) {
      day
      agentId
      agentName
      runs
      inputTokens
      outputTokens
      cacheReadTokens
      cacheWriteTokens
      reasoningTokens
      costUsd
    }
    liveWorkers {
      poolId
      hostname
      pid
      concurrency
      startedAt
      runningJobs
    }
    queueDepth {
      ready
      scheduled
      running
      oldestReadyAgeMs
    }
    runsAwaitingAnswerCount
    failures: allRuns(condition: { status: "failed" }, orderBy: CREATED_AT_DESC, first: 8) {
      nodes {
        id
        error
        finishedAt
        createdAt
        agentByAgentId {
          id
          name
        }
      }
    }
  }
`);

/** Any run changed: the dashboard refreshes. */
export const DASHBOARD_UPDATED = graphql(`
  subscription DashboardUpdated {
    runUpdated {
      runId
    }
  }
`);

/** The session's key: its workspace and role (the Shell's header, what buttons may do). */
export const WHOAMI_QUERY = graphql(`
  query Whoami {
    whoami {
      keyId
      workspaceId
      workspaceName
      role
    }
  }
`);

/**
 * A workflow run's transitions (issue 21): the steps of the run, and of the latest runs on its
 * thread, so the run page can follow the continuations it resumes (an approval's answer is a new
 * run on the same thread, parentRunId) back to the workflow's start; its `state` and `wait` steps'
 * output say the state, its type, when it was entered, its retries and where it went. Bounded
 * (30 runs × 1,000 steps) to stay under the API's query cost limit (500,000 fields × rows).
 */
export const WORKFLOW_RUN_QUERY = graphql(`
  query WorkflowRun($id: UUID!) {
    runById(id: $id) {
      id
      parentRunId
      runStepsByRunId(orderBy: SEQ_ASC, first: 1000) {
        nodes {
          ...WorkflowStepFields
        }
      }
      threadByThreadId {
        runsByThreadId(orderBy: CREATED_AT_DESC, first: 30) {
          nodes {
            id
            parentRunId
            runStepsByRunId(orderBy: SEQ_ASC, first: 1000) {
              nodes {
                ...WorkflowStepFields
              }
            }
          }
        }
      }
    }
  }
  fragment WorkflowStepFields on RunStep {
    seq
    kind
    name
    status
    finishedAt
    output
  }
`);
