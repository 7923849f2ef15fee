/* eslint-disable */
import * as types from './graphql';



/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  fragment BatchProgressFields on BatchProgress {\n    total\n    queued\n    running\n    succeeded\n    failed\n    cancelled\n    inputTokens\n    outputTokens\n    costUsd\n    itemsPerMinute\n    etaSeconds\n  }\n": typeof types.BatchProgressFieldsFragmentDoc,
    "\n  fragment BatchRowFields on Batch {\n    id\n    name\n    status\n    agentId\n    agentVersion\n    agentByAgentId {\n      name\n    }\n    maxParallel\n    createdAt\n    startedAt\n    finishedAt\n    updatedAt\n    progress {\n      ...BatchProgressFields\n    }\n  }\n": typeof types.BatchRowFieldsFragmentDoc,
    "\n  fragment BatchFields on Batch {\n    ...BatchRowFields\n    priority\n    onItemError\n    stopAfterFailures\n    stopAfterRatio\n    deadline\n    error\n    # the chart: finished items per minute, last 30 minutes, oldest first\n    throughput(minutes: 30) {\n      minute\n      finished\n    }\n  }\n": typeof types.BatchFieldsFragmentDoc,
    "\n  query Batches($condition: BatchCondition, $first: Int!) {\n    batches(condition: $condition, orderBy: CREATED_AT_DESC, first: $first) {\n      totalCount\n      pageInfo {\n        hasNextPage\n      }\n      nodes {\n        ...BatchRowFields\n      }\n    }\n  }\n": typeof types.BatchesDocument,
    "\n  query Batch($id: UUID!) {\n    batch(id: $id) {\n      ...BatchFields\n    }\n  }\n": typeof types.BatchDocument,
    "\n  subscription BatchProgress($batchId: UUID!) {\n    batchProgress(batchId: $batchId) {\n      batchId\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n": typeof types.BatchProgressDocument,
    "\n  query BatchItems($id: UUID!, $condition: BatchItemCondition, $first: Int!, $offset: Int!) {\n    batch(id: $id) {\n      id\n      items(condition: $condition, orderBy: ORDINAL_ASC, first: $first, offset: $offset) {\n        totalCount\n        nodes {\n          id\n          customId\n          status\n          attempts\n          output\n          error\n          finishedAt\n          runId\n        }\n      }\n    }\n  }\n": typeof types.BatchItemsDocument,
    "\n  mutation PauseBatch($batchId: UUID!) {\n    pauseBatch(batchId: $batchId) {\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n": typeof types.PauseBatchDocument,
    "\n  mutation ResumeBatch($batchId: UUID!) {\n    resumeBatch(batchId: $batchId) {\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n": typeof types.ResumeBatchDocument,
    "\n  mutation StartBatch($batchId: UUID!) {\n    startBatch(batchId: $batchId) {\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n": typeof types.StartBatchDocument,
    "\n  mutation CancelBatch($batchId: UUID!) {\n    cancelBatch(batchId: $batchId) {\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n": typeof types.CancelBatchDocument,
    "\n  mutation SetBatchParallel($batchId: UUID!, $maxParallel: Int!) {\n    setBatchParallel(batchId: $batchId, maxParallel: $maxParallel) {\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n": typeof types.SetBatchParallelDocument,
    "\n  mutation RetryFailedItems($batchId: UUID!, $includeCancelled: Boolean) {\n    retryFailedItems(batchId: $batchId, includeCancelled: $includeCancelled) {\n      retried\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n": typeof types.RetryFailedItemsDocument,
    "\n  query RunBatch($id: UUID!) {\n    runById(id: $id) {\n      id\n      batchId\n      batchItemByBatchItemId {\n        id\n        customId\n      }\n      batchByBatchId {\n        id\n        name\n      }\n    }\n  }\n": typeof types.RunBatchDocument,
    "\n  query DashboardObservability($window: Int!, $bucket: Int!) {\n    stepLatencyByKindList(windowSeconds: $window) {\n      kind\n      steps\n      failed\n      p50Ms\n      p95Ms\n      p99Ms\n      maxMs\n    }\n    resumeLatencyList(windowSeconds: $window, bucketSeconds: $bucket) {\n      bucketStart\n      attempts\n      lost\n      resumed\n      p50Ms\n      p95Ms\n      maxMs\n    }\n    providerStepStatsList(windowSeconds: $window) {\n      provider\n      steps\n      failed\n      attempts\n      retried\n      lost\n      errorRate\n      attemptsPerStep\n      p95Ms\n    }\n    workspaceLimits {\n      workspaceId\n      maxQueuedRuns\n      maxRunningRuns\n      maxTokensPerDay\n      maxCostUsdPerDay\n      queuedRuns\n      activeRuns\n      tokensToday\n      costUsdToday\n    }\n  }\n": typeof types.DashboardObservabilityDocument,
    "\n  query McpServers {\n    allMcpServers(first: 500, orderBy: [SERVER_ASC, AGENT_NAME_ASC, AGENT_ID_ASC]) {\n      totalCount\n      nodes {\n        nodeId\n        agentId\n        agentName\n        server\n        endpoint\n        status\n        tools\n        toolCount\n        listedAt\n        lastError\n        lastErrorAt\n        pinnedRuns\n      }\n    }\n  }\n": typeof types.McpServersDocument,
    "\n  query RunMcp($id: UUID!, $parentId: UUID!) {\n    allRunMcpTools(condition: { runId: $id }, first: 100, orderBy: [SERVER_ASC]) {\n      nodes {\n        server\n        pinnedAt\n        listId\n        mcpToolListByListId {\n          id\n          endpoint\n          fetchedAt\n          tools\n        }\n      }\n    }\n    own: allToolDispatches(condition: { runId: $id }, first: 200) {\n      nodes {\n        runId\n        toolCallId\n        toolName\n        dispatches\n        state\n        lastDispatchedAt\n        authorizedBy\n        lastRunId\n      }\n    }\n    parent: allToolDispatches(condition: { runId: $parentId }, first: 200) {\n      nodes {\n        runId\n        toolCallId\n        toolName\n        dispatches\n        state\n        lastDispatchedAt\n        authorizedBy\n        lastRunId\n      }\n    }\n  }\n": typeof types.RunMcpDocument,
    "\n  query McpOauth {\n    allAgents(orderBy: NAME_ASC, first: 1000) {\n      nodes {\n        id\n        name\n        config\n      }\n    }\n    allMcpOauthConnections(orderBy: [SERVER_URL_ASC], first: 500) {\n      nodes {\n        nodeId\n        serverUrl\n        status\n        scopes\n        clientId\n        expiresAt\n        connectedAt\n        connectedBy\n        lastRefreshedAt\n        lastError\n        updatedAt\n      }\n    }\n  }\n": typeof types.McpOauthDocument,
    "\n  mutation ConnectMcpServer($input: ConnectMcpServerInput!) {\n    connectMcpServer(input: $input) {\n      url\n      authorizationUrl\n      expiresAt\n    }\n  }\n": typeof types.ConnectMcpServerDocument,
    "\n  mutation DisconnectMcpServer($input: DisconnectMcpServerInput!) {\n    disconnectMcpServer(input: $input) {\n      disconnected\n      url\n    }\n  }\n": typeof types.DisconnectMcpServerDocument,
    "\n  fragment NotificationDeliveryRowFields on NotificationDelivery {\n    id\n    event\n    endpointId\n    notificationEndpointByEndpointId {\n      name\n    }\n    subjectId\n    status\n    attempts\n    lastStatusCode\n    lastError\n    createdAt\n    deliveredAt\n    nextAttemptAt\n    giveUpAt\n  }\n": typeof types.NotificationDeliveryRowFieldsFragmentDoc,
    "\n  query Notifications($endpoints: Int!, $deliveries: Int!, $condition: NotificationDeliveryCondition) {\n    notificationEndpoints(first: $endpoints) {\n      totalCount\n      nodes {\n        id\n        name\n        url\n        events\n        agentId\n        agentByAgentId {\n          name\n        }\n        secretName\n        retryInitialSeconds\n        enabled\n      }\n    }\n    notificationDeliveries(first: $deliveries, condition: $condition) {\n      totalCount\n      pageInfo {\n        hasNextPage\n      }\n      nodes {\n        ...NotificationDeliveryRowFields\n      }\n    }\n  }\n": typeof types.NotificationsDocument,
    "\n  query NotificationDelivery($id: UUID!) {\n    notificationDelivery(id: $id) {\n      ...NotificationDeliveryRowFields\n      payload\n      attemptLog(first: 100) {\n        nodes {\n          id\n          attempt\n          startedAt\n          finishedAt\n          outcome\n          statusCode\n          error\n        }\n      }\n    }\n  }\n": typeof types.NotificationDeliveryDocument,
    "\n  mutation ResendNotification($id: UUID!) {\n    resendNotification(id: $id) {\n      notificationDelivery {\n        ...NotificationDeliveryRowFields\n      }\n    }\n  }\n": typeof types.ResendNotificationDocument,
    "\n  query ModelPrices {\n    allModelPrices(first: 1000, orderBy: [PROVIDER_ASC, MODEL_ASC]) {\n      totalCount\n      nodes {\n        id\n        provider\n        model\n        inputPerMillion\n        outputPerMillion\n        cacheReadPerMillion\n        cacheWritePerMillion\n        updatedAt\n      }\n    }\n  }\n": typeof types.ModelPricesDocument,
    "\n  query ModelCatalog {\n    modelCatalog {\n      provider\n      modelPrefix\n      contextWindow\n      maxOutputTokens\n      inputPerMillion\n      outputPerMillion\n      cacheReadPerMillion\n      cacheWritePerMillion\n      thinking\n      reasoning\n      caching\n      structuredOutput\n      adaptiveThinking\n      thinkingOff\n      forcedToolChoice\n      outputFormat\n      temperature\n      effortLevels\n      fromOperatorFile\n    }\n  }\n": typeof types.ModelCatalogDocument,
    "\n  mutation SetModelPrice(\n    $provider: String!\n    $model: String!\n    $inputPerMillion: Float!\n    $outputPerMillion: Float!\n    $cacheReadPerMillion: Float\n    $cacheWritePerMillion: Float\n  ) {\n    setModelPrice(\n      provider: $provider\n      model: $model\n      inputPerMillion: $inputPerMillion\n      outputPerMillion: $outputPerMillion\n      cacheReadPerMillion: $cacheReadPerMillion\n      cacheWritePerMillion: $cacheWritePerMillion\n    ) {\n      provider\n      model\n      updatedAt\n    }\n  }\n": typeof types.SetModelPriceDocument,
    "\n  mutation DeleteModelPrice($provider: String!, $model: String!) {\n    deleteModelPrice(provider: $provider, model: $model) {\n      provider\n      model\n      deleted\n    }\n  }\n": typeof types.DeleteModelPriceDocument,
    "\n  query RunQueue($id: UUID!) {\n    runById(id: $id) {\n      id\n      priority\n      admittedAt\n    }\n    explainQueue(runId: $id) {\n      admitted\n      heldBy\n      position\n      message\n    }\n  }\n": typeof types.RunQueueDocument,
    "\n  query RunTree($id: UUID!) {\n    runById(id: $id) {\n      id\n      callerToolCallId\n      treeUsage\n      caller {\n        id\n        status\n        agentByAgentId {\n          name\n        }\n      }\n      root {\n        id\n        status\n        agentByAgentId {\n          name\n        }\n      }\n      childrenList {\n        id\n        status\n        parentRunId\n        continuedBy\n        callerToolCallId\n        usage\n        agentByAgentId {\n          name\n        }\n      }\n      awaitingDescendantsList {\n        id\n        agentByAgentId {\n          name\n        }\n      }\n    }\n  }\n": typeof types.RunTreeDocument,
    "\n  fragment ScheduleRowFields on Schedule {\n    id\n    name\n    agentId\n    agentByAgentId {\n      name\n    }\n    cron\n    intervalSeconds\n    timezone\n    nextFireAt\n    lastFireAt\n    paused\n    pausedNote\n    specError\n    consecutiveFailures\n    pauseAfterFailures\n    missedTotal\n    updatedAt\n  }\n": typeof types.ScheduleRowFieldsFragmentDoc,
    "\n  fragment ScheduleFields on Schedule {\n    ...ScheduleRowFields\n    input\n    overlap\n    catchUp\n    catchUpMax\n    misfireGraceSeconds\n    thread\n    threadId\n    createdAt\n    nextFireTimes(count: 10)\n  }\n": typeof types.ScheduleFieldsFragmentDoc,
    "\n  query Schedules($first: Int!) {\n    schedules(first: $first) {\n      totalCount\n      pageInfo {\n        hasNextPage\n      }\n      nodes {\n        ...ScheduleRowFields\n      }\n    }\n  }\n": typeof types.SchedulesDocument,
    "\n  query Schedule($id: UUID!, $fires: Int!) {\n    schedule(id: $id) {\n      ...ScheduleFields\n      fires(first: $fires) {\n        totalCount\n        nodes {\n          id\n          occurrenceAt\n          firedAt\n          startedAt\n          status\n          reason\n          runId\n          run {\n            id\n            status\n          }\n        }\n      }\n    }\n  }\n": typeof types.ScheduleDocument,
    "\n  mutation PauseSchedule($id: UUID!, $note: String) {\n    pauseSchedule(id: $id, note: $note) {\n      schedule {\n        ...ScheduleFields\n      }\n    }\n  }\n": typeof types.PauseScheduleDocument,
    "\n  mutation ResumeSchedule($id: UUID!) {\n    resumeSchedule(id: $id) {\n      schedule {\n        ...ScheduleFields\n      }\n    }\n  }\n": typeof types.ResumeScheduleDocument,
    "\n  query Webhooks($first: Int!) {\n    webhooks(first: $first) {\n      totalCount\n      pageInfo {\n        hasNextPage\n      }\n      nodes {\n        id\n        name\n        agentId\n        agentByAgentId {\n          name\n        }\n        verify\n        secretNames\n        enabled\n        path\n        deliveries(first: 100) {\n          totalCount\n          nodes {\n            id\n            receivedAt\n          }\n        }\n      }\n    }\n  }\n": typeof types.WebhooksDocument,
    "\n  query Webhook($id: UUID!, $deliveries: Int!) {\n    webhook(id: $id) {\n      id\n      name\n      agentId\n      agentByAgentId {\n        name\n      }\n      verify\n      secretNames\n      signatureHeader\n      signaturePrefix\n      toleranceSeconds\n      dedupePointer\n      inputTemplate\n      threadKeyPointer\n      maxBodyBytes\n      enabled\n      path\n      createdAt\n      updatedAt\n      deliveries(first: $deliveries) {\n        totalCount\n        nodes {\n          id\n          receivedAt\n          deliveryKey\n          verifiedWith\n          duplicates\n          lastDuplicateAt\n          test\n          threadKey\n          payloadBytes\n          runId\n          run {\n            id\n            status\n          }\n        }\n      }\n    }\n  }\n": typeof types.WebhookDocument,
    "\n  mutation SendTestWebhookDelivery($id: UUID!, $payload: JSON) {\n    sendTestWebhookDelivery(id: $id, payload: $payload) {\n      runId\n      deliveryId\n      duplicate\n      run {\n        id\n        status\n      }\n    }\n  }\n": typeof types.SendTestWebhookDeliveryDocument,
    "\n  query ApprovalHistory {\n    answerAudit: allAuditLogs(condition: { action: \"approval.answered\" }, orderBy: SEQ_DESC, first: 50) {\n      nodes {\n        id\n        at\n        actor\n        targetId\n        details\n      }\n    }\n    answeredRuns: allRuns(condition: { status: \"interrupted\" }, orderBy: CREATED_AT_DESC, first: 200) {\n      nodes {\n        id\n        agentId\n        continuedBy\n        agentByAgentId {\n          id\n          name\n        }\n        finished: runEventsByRunId(condition: { type: \"RUN_FINISHED\" }, orderBy: SEQ_DESC, first: 1) {\n          nodes {\n            event\n          }\n        }\n        runByContinuedBy {\n          id\n          input\n        }\n      }\n    }\n  }\n": typeof types.ApprovalHistoryDocument,
    "\n  query WorkspaceLimits {\n    workspaceLimits {\n      workspaceId\n      workspaceName\n      maxQueuedRuns\n      runsPerMinute\n      maxRunningRuns\n      weight\n      maxTokensPerDay\n      maxCostUsdPerDay\n      dedicated\n      queuedRuns\n      pendingRuns\n      activeRuns\n      oldestPendingAt\n      tokensToday\n      costUsdToday\n      tokens\n      updatedAt\n    }\n  }\n": typeof types.WorkspaceLimitsDocument,
    "\n  fragment NavRunRowFields on Run {\n    ...RunRowFields\n    agentVersion\n  }\n": typeof types.NavRunRowFieldsFragmentDoc,
    "\n  query NavRuns($condition: RunCondition, $first: Int!, $after: Cursor) {\n    allRuns(condition: $condition, orderBy: CREATED_AT_DESC, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        ...NavRunRowFields\n      }\n    }\n  }\n": typeof types.NavRunsDocument,
    "\n  subscription NavRunsUpdated {\n    runUpdated {\n      runId\n      run {\n        ...NavRunRowFields\n      }\n    }\n  }\n": typeof types.NavRunsUpdatedDocument,
    "\n  query NavAgents {\n    allAgents(orderBy: NAME_ASC, first: 1000) {\n      nodes {\n        id\n        name\n        version\n      }\n    }\n  }\n": typeof types.NavAgentsDocument,
    "\n  query Threads($first: Int!, $offset: Int!, $agentId: UUID) {\n    threadSummaries(first: $first, offset: $offset, agentId: $agentId) {\n      hasNextPage\n      nodes {\n        threadId\n        agentId\n        agentName\n        createdAt\n        lastActivityAt\n        runCount\n        latestRunId\n        latestRunStatus\n        title\n      }\n    }\n  }\n": typeof types.ThreadsDocument,
    "\n  query WorkersAndQueue($queueWindow: Int!, $queueBucket: Int!, $stalledSeconds: Int!) {\n    workerStatuses {\n      poolId\n      hostname\n      pid\n      concurrency\n      startedAt\n      lastSeenAt\n      steps {\n        runId\n        agentName\n        status\n        step\n        attempt\n        stepStartedAt\n        lockedAt\n      }\n    }\n    workerExits(windowSeconds: 86400, first: 50) {\n      poolId\n      hostname\n      pid\n      concurrency\n      startedAt\n      exitedAt\n      crashed\n      freedRunIds\n    }\n    queueDepth {\n      ready\n      scheduled\n      running\n      oldestReadyAgeMs\n    }\n    queueHistory(windowSeconds: $queueWindow, bucketSeconds: $queueBucket) {\n      start\n      ready\n      scheduled\n      running\n      oldestReadyAgeMs\n    }\n    scheduledTimers(first: 100) {\n      runId\n      agentName\n      kind\n      eventName\n      until\n      since\n    }\n    stuckRuns(stalledSeconds: $stalledSeconds, first: 100) {\n      runId\n      agentName\n      status\n      reason\n      step\n      attempt\n      since\n    }\n  }\n": typeof types.WorkersAndQueueDocument,
    "\n  fragment RunRowFields on Run {\n    id\n    status\n    agentId\n    threadId\n    parentRunId\n    usage\n    error\n    # the last report_progress ({message, fraction, at}; null: none): the table's progress cell\n    progress\n    createdAt\n    startedAt\n    finishedAt\n    updatedAt\n    agentByAgentId {\n      id\n      name\n    }\n    runStepsByRunId {\n      totalCount\n    }\n    # the step in progress of a running run (runUpdated pushes it on every attempt)\n    current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {\n      nodes {\n        seq\n        attempt\n        stepKind\n        stepName\n        outcome\n      }\n    }\n  }\n": typeof types.RunRowFieldsFragmentDoc,
    "\n  fragment RunFields on Run {\n    id\n    status\n    agentId\n    agentVersion\n    threadId\n    parentRunId\n    continuedBy\n    rerunOf\n    input\n    output\n    error\n    usage\n    createdAt\n    startedAt\n    finishedAt\n    updatedAt\n    waiting\n    # the run's last progress report (report_progress, 000030; null: none): pushed with\n    # runUpdated on every step commit, which is how the run page follows it\n    progress\n    agentByAgentId {\n      id\n      name\n    }\n    stepCount: runStepsByRunId {\n      totalCount\n    }\n    current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {\n      nodes {\n        ...RunAttemptFields\n      }\n    }\n  }\n": typeof types.RunFieldsFragmentDoc,
    "\n  fragment RunAttemptFields on RunAttempt {\n    seq\n    attempt\n    stepKind\n    stepName\n    poolId\n    hostname\n    workerPid\n    startedAt\n    endedAt\n    lastEventAt\n    freedAt\n    outcome\n    error\n    eventsFrom\n    lastEventSeq\n    closedThroughSeq\n  }\n": typeof types.RunAttemptFieldsFragmentDoc,
    "\n  query RunAttempts($id: UUID!) {\n    allRunAttempts(condition: { runId: $id }, orderBy: PRIMARY_KEY_ASC, first: 1000) {\n      nodes {\n        ...RunAttemptFields\n      }\n    }\n  }\n": typeof types.RunAttemptsDocument,
    "\n  fragment ParentFinished on Run {\n    parent: runByParentRunId {\n      finished: runEventsByRunId(condition: { type: \"RUN_FINISHED\" }, orderBy: SEQ_DESC, first: 1) {\n        nodes {\n          event\n        }\n      }\n    }\n  }\n": typeof types.ParentFinishedFragmentDoc,
    "\n  query Runs($condition: RunCondition, $first: Int!, $after: Cursor) {\n    allRuns(condition: $condition, orderBy: CREATED_AT_DESC, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        ...RunRowFields\n      }\n    }\n  }\n": typeof types.RunsDocument,
    "\n  subscription RunsUpdated {\n    runUpdated {\n      runId\n      run {\n        ...RunRowFields\n      }\n    }\n  }\n": typeof types.RunsUpdatedDocument,
    "\n  query AgentNames {\n    allAgents(orderBy: NAME_ASC, first: 1000) {\n      nodes {\n        id\n        name\n      }\n    }\n  }\n": typeof types.AgentNamesDocument,
    "\n  query RunDetail($id: UUID!) {\n    runById(id: $id) {\n      ...RunFields\n      ...ParentFinished\n      # the run's live state (update_state, 000030; up to 256 KiB): the run page's only, not in\n      # RunFields, which the thread page reads for each of its runs\n      state\n      # what the run and the runs it continues spent, against the agent's config.budget (000032)\n      budgetSpend\n      # when retention removed its events and steps (000038), and the workspace's retention\n      historyExpiredAt\n      workspaceByWorkspaceId {\n        retentionDays\n      }\n      agentVersionByAgentIdAndAgentVersion {\n        version\n        config\n      }\n      runByContinuedBy {\n        id\n        status\n        # its input.resume: approve or reject, and the reason (the conversation shows them)\n        input\n      }\n    }\n  }\n": typeof types.RunDetailDocument,
    "\n  fragment RunStepFields on RunStep {\n    seq\n    kind\n    name\n    status\n    attempt\n    startedAt\n    finishedAt\n    durationMs\n    error\n    usage\n  }\n": typeof types.RunStepFieldsFragmentDoc,
    "\n  query RunSteps($id: UUID!) {\n    allRunSteps(condition: { runId: $id }, orderBy: SEQ_ASC, first: 1000) {\n      nodes {\n        ...RunStepFields\n      }\n    }\n  }\n": typeof types.RunStepsDocument,
    "\n  subscription RunUpdated($id: UUID!) {\n    runUpdated(runId: $id) {\n      runId\n      run {\n        ...RunFields\n        # pushed on every step commit: the commit of an update_state step is the one that changes it\n        state\n      }\n    }\n  }\n": typeof types.RunUpdatedDocument,
    "\n  subscription RunAnswers {\n    runUpdated {\n      run {\n        parentRunId\n      }\n    }\n  }\n": typeof types.RunAnswersDocument,
    "\n  subscription RunEvents($runId: UUID!, $after: Int) {\n    runEvents(runId: $runId, after: $after) {\n      seq\n      type\n      event\n    }\n  }\n": typeof types.RunEventsDocument,
    "\n  mutation StartRun($agent: String!, $input: JSON!, $threadId: UUID) {\n    startRun(agent: $agent, input: $input, threadId: $threadId) {\n      runId\n    }\n  }\n": typeof types.StartRunDocument,
    "\n  mutation CancelRun($runId: UUID!, $reason: String) {\n    cancelRun(runId: $runId, reason: $reason) {\n      cancelled\n      run {\n        id\n        status\n      }\n    }\n  }\n": typeof types.CancelRunDocument,
    "\n  mutation ResumeRun($runId: UUID!, $resume: JSON!, $reason: String) {\n    resumeRun(runId: $runId, resume: $resume, reason: $reason) {\n      runId\n    }\n  }\n": typeof types.ResumeRunDocument,
    "\n  mutation SendEvent($runId: UUID!, $name: String!, $payload: JSON, $reason: String) {\n    sendEvent(runId: $runId, name: $name, payload: $payload, reason: $reason) {\n      woke\n      run {\n        id\n        status\n        updatedAt\n      }\n    }\n  }\n": typeof types.SendEventDocument,
    "\n  mutation RerunRun($runId: UUID!, $reason: String, $fromStep: Int) {\n    rerunRun(runId: $runId, reason: $reason, fromStep: $fromStep) {\n      runId\n    }\n  }\n": typeof types.RerunRunDocument,
    "\n  query RerunFromStepContext($id: UUID!) {\n    runById(id: $id) {\n      id\n      status\n      parentRunId\n      agentVersion\n      threadByThreadId {\n        runsByThreadId(orderBy: [CREATED_AT_DESC, ID_DESC], first: 1) {\n          nodes {\n            id\n          }\n        }\n      }\n    }\n  }\n": typeof types.RerunFromStepContextDocument,
    "\n  query RunInterrupts($id: UUID!) {\n    runById(id: $id) {\n      id\n      status\n      continuedBy\n      interrupts\n    }\n  }\n": typeof types.RunInterruptsDocument,
    "\n  query Agents {\n    allAgents(orderBy: NAME_ASC, first: 1000) {\n      nodes {\n        id\n        name\n        config\n        version\n        createdAt\n        updatedAt\n        runsByAgentId {\n          totalCount\n        }\n      }\n    }\n  }\n": typeof types.AgentsDocument,
    "\n  query Agent($id: UUID!) {\n    agentById(id: $id) {\n      id\n      name\n      config\n      version\n      createdAt\n      updatedAt\n      agentVersionsByAgentId(orderBy: VERSION_DESC, first: 1000) {\n        nodes {\n          agentId\n          version\n          config\n          createdAt\n        }\n      }\n      runsByAgentId(orderBy: CREATED_AT_DESC, first: 8) {\n        totalCount\n        nodes {\n          ...RunRowFields\n        }\n      }\n    }\n  }\n": typeof types.AgentDocument,
    "\n  mutation CreateAgent($name: String!, $config: JSON!) {\n    createAgent(input: { agent: { name: $name, config: $config } }) {\n      agent {\n        id\n      }\n    }\n  }\n": typeof types.CreateAgentDocument,
    "\n  mutation UpdateAgent($id: UUID!, $config: JSON!) {\n    updateAgentById(input: { id: $id, agentPatch: { config: $config } }) {\n      agent {\n        id\n        version\n      }\n    }\n  }\n": typeof types.UpdateAgentDocument,
    "\n  query Thread($id: UUID!) {\n    threadById(id: $id) {\n      id\n      createdAt\n      agentByAgentId {\n        id\n        name\n      }\n      runsByThreadId(orderBy: CREATED_AT_ASC, first: 1000) {\n        nodes {\n          ...RunFields\n          ...ParentFinished\n        }\n      }\n    }\n  }\n": typeof types.ThreadDocument,
    "\n  subscription ThreadRunsUpdated {\n    runUpdated {\n      runId\n      run {\n        threadId\n        status\n      }\n    }\n  }\n": typeof types.ThreadRunsUpdatedDocument,
    "\n  query Approvals {\n    runsAwaitingAnswerCount\n    runsAwaitingAnswer(first: 200) {\n      ...RunRowFields\n      input\n      finished: runEventsByRunId(condition: { type: \"RUN_FINISHED\" }, orderBy: SEQ_DESC, first: 1) {\n        nodes {\n          event\n        }\n      }\n    }\n  }\n": typeof types.ApprovalsDocument,
    "\n  subscription RunStatusUpdated {\n    runUpdated {\n      runId\n      run {\n        status\n        parentRunId\n      }\n    }\n  }\n": typeof types.RunStatusUpdatedDocument,
    "\n  query PendingApprovals {\n    runsAwaitingAnswerCount\n  }\n": typeof types.PendingApprovalsDocument,
    "\n  query Dashboard($window: Int!, $bucket: Int!, $days: Int!) {\n    runStatusCounts(windowSeconds: $window) {\n      status\n      count\n    }\n    runThroughput(windowSeconds: $window, bucketSeconds: $bucket) {\n      start\n      started\n      succeeded\n      failed\n      cancelled\n      interrupted\n      steps\n      stepP50Ms\n      stepP95Ms\n    }\n    agentDailyUsage(days: $days) {\n      day\n      agentId\n      agentName\n      runs\n      inputTokens\n      outputTokens\n      cacheReadTokens\n      cacheWriteTokens\n      reasoningTokens\n      costUsd\n    }\n    liveWorkers {\n      poolId\n      hostname\n      pid\n      concurrency\n      startedAt\n      runningJobs\n    }\n    queueDepth {\n      ready\n      scheduled\n      running\n      oldestReadyAgeMs\n    }\n    runsAwaitingAnswerCount\n    failures: allRuns(condition: { status: \"failed\" }, orderBy: CREATED_AT_DESC, first: 8) {\n      nodes {\n        id\n        error\n        finishedAt\n        createdAt\n        agentByAgentId {\n          id\n          name\n        }\n      }\n    }\n  }\n": typeof types.DashboardDocument,
    "\n  subscription DashboardUpdated {\n    runUpdated {\n      runId\n    }\n  }\n": typeof types.DashboardUpdatedDocument,
    "\n  query Whoami {\n    whoami {\n      keyId\n      workspaceId\n      workspaceName\n      role\n    }\n  }\n": typeof types.WhoamiDocument,
    "\n  query WorkflowRun($id: UUID!) {\n    runById(id: $id) {\n      id\n      parentRunId\n      runStepsByRunId(orderBy: SEQ_ASC, first: 1000) {\n        nodes {\n          ...WorkflowStepFields\n        }\n      }\n      threadByThreadId {\n        runsByThreadId(orderBy: CREATED_AT_DESC, first: 30) {\n          nodes {\n            id\n            parentRunId\n            runStepsByRunId(orderBy: SEQ_ASC, first: 1000) {\n              nodes {\n                ...WorkflowStepFields\n              }\n            }\n          }\n        }\n      }\n    }\n  }\n  fragment WorkflowStepFields on RunStep {\n    seq\n    kind\n    name\n    status\n    finishedAt\n    output\n  }\n": typeof types.WorkflowRunDocument,
    "\n  query RunTraceId($id: UUID!) {\n    runById(id: $id) {\n      id\n      traceParent\n    }\n  }\n": typeof types.RunTraceIdDocument,
};
const documents: Documents = {
    "\n  fragment BatchProgressFields on BatchProgress {\n    total\n    queued\n    running\n    succeeded\n    failed\n    cancelled\n    inputTokens\n    outputTokens\n    costUsd\n    itemsPerMinute\n    etaSeconds\n  }\n": types.BatchProgressFieldsFragmentDoc,
    "\n  fragment BatchRowFields on Batch {\n    id\n    name\n    status\n    agentId\n    agentVersion\n    agentByAgentId {\n      name\n    }\n    maxParallel\n    createdAt\n    startedAt\n    finishedAt\n    updatedAt\n    progress {\n      ...BatchProgressFields\n    }\n  }\n": types.BatchRowFieldsFragmentDoc,
    "\n  fragment BatchFields on Batch {\n    ...BatchRowFields\n    priority\n    onItemError\n    stopAfterFailures\n    stopAfterRatio\n    deadline\n    error\n    # the chart: finished items per minute, last 30 minutes, oldest first\n    throughput(minutes: 30) {\n      minute\n      finished\n    }\n  }\n": types.BatchFieldsFragmentDoc,
    "\n  query Batches($condition: BatchCondition, $first: Int!) {\n    batches(condition: $condition, orderBy: CREATED_AT_DESC, first: $first) {\n      totalCount\n      pageInfo {\n        hasNextPage\n      }\n      nodes {\n        ...BatchRowFields\n      }\n    }\n  }\n": types.BatchesDocument,
    "\n  query Batch($id: UUID!) {\n    batch(id: $id) {\n      ...BatchFields\n    }\n  }\n": types.BatchDocument,
    "\n  subscription BatchProgress($batchId: UUID!) {\n    batchProgress(batchId: $batchId) {\n      batchId\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n": types.BatchProgressDocument,
    "\n  query BatchItems($id: UUID!, $condition: BatchItemCondition, $first: Int!, $offset: Int!) {\n    batch(id: $id) {\n      id\n      items(condition: $condition, orderBy: ORDINAL_ASC, first: $first, offset: $offset) {\n        totalCount\n        nodes {\n          id\n          customId\n          status\n          attempts\n          output\n          error\n          finishedAt\n          runId\n        }\n      }\n    }\n  }\n": types.BatchItemsDocument,
    "\n  mutation PauseBatch($batchId: UUID!) {\n    pauseBatch(batchId: $batchId) {\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n": types.PauseBatchDocument,
    "\n  mutation ResumeBatch($batchId: UUID!) {\n    resumeBatch(batchId: $batchId) {\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n": types.ResumeBatchDocument,
    "\n  mutation StartBatch($batchId: UUID!) {\n    startBatch(batchId: $batchId) {\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n": types.StartBatchDocument,
    "\n  mutation CancelBatch($batchId: UUID!) {\n    cancelBatch(batchId: $batchId) {\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n": types.CancelBatchDocument,
    "\n  mutation SetBatchParallel($batchId: UUID!, $maxParallel: Int!) {\n    setBatchParallel(batchId: $batchId, maxParallel: $maxParallel) {\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n": types.SetBatchParallelDocument,
    "\n  mutation RetryFailedItems($batchId: UUID!, $includeCancelled: Boolean) {\n    retryFailedItems(batchId: $batchId, includeCancelled: $includeCancelled) {\n      retried\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n": types.RetryFailedItemsDocument,
    "\n  query RunBatch($id: UUID!) {\n    runById(id: $id) {\n      id\n      batchId\n      batchItemByBatchItemId {\n        id\n        customId\n      }\n      batchByBatchId {\n        id\n        name\n      }\n    }\n  }\n": types.RunBatchDocument,
    "\n  query DashboardObservability($window: Int!, $bucket: Int!) {\n    stepLatencyByKindList(windowSeconds: $window) {\n      kind\n      steps\n      failed\n      p50Ms\n      p95Ms\n      p99Ms\n      maxMs\n    }\n    resumeLatencyList(windowSeconds: $window, bucketSeconds: $bucket) {\n      bucketStart\n      attempts\n      lost\n      resumed\n      p50Ms\n      p95Ms\n      maxMs\n    }\n    providerStepStatsList(windowSeconds: $window) {\n      provider\n      steps\n      failed\n      attempts\n      retried\n      lost\n      errorRate\n      attemptsPerStep\n      p95Ms\n    }\n    workspaceLimits {\n      workspaceId\n      maxQueuedRuns\n      maxRunningRuns\n      maxTokensPerDay\n      maxCostUsdPerDay\n      queuedRuns\n      activeRuns\n      tokensToday\n      costUsdToday\n    }\n  }\n": types.DashboardObservabilityDocument,
    "\n  query McpServers {\n    allMcpServers(first: 500, orderBy: [SERVER_ASC, AGENT_NAME_ASC, AGENT_ID_ASC]) {\n      totalCount\n      nodes {\n        nodeId\n        agentId\n        agentName\n        server\n        endpoint\n        status\n        tools\n        toolCount\n        listedAt\n        lastError\n        lastErrorAt\n        pinnedRuns\n      }\n    }\n  }\n": types.McpServersDocument,
    "\n  query RunMcp($id: UUID!, $parentId: UUID!) {\n    allRunMcpTools(condition: { runId: $id }, first: 100, orderBy: [SERVER_ASC]) {\n      nodes {\n        server\n        pinnedAt\n        listId\n        mcpToolListByListId {\n          id\n          endpoint\n          fetchedAt\n          tools\n        }\n      }\n    }\n    own: allToolDispatches(condition: { runId: $id }, first: 200) {\n      nodes {\n        runId\n        toolCallId\n        toolName\n        dispatches\n        state\n        lastDispatchedAt\n        authorizedBy\n        lastRunId\n      }\n    }\n    parent: allToolDispatches(condition: { runId: $parentId }, first: 200) {\n      nodes {\n        runId\n        toolCallId\n        toolName\n        dispatches\n        state\n        lastDispatchedAt\n        authorizedBy\n        lastRunId\n      }\n    }\n  }\n": types.RunMcpDocument,
    "\n  query McpOauth {\n    allAgents(orderBy: NAME_ASC, first: 1000) {\n      nodes {\n        id\n        name\n        config\n      }\n    }\n    allMcpOauthConnections(orderBy: [SERVER_URL_ASC], first: 500) {\n      nodes {\n        nodeId\n        serverUrl\n        status\n        scopes\n        clientId\n        expiresAt\n        connectedAt\n        connectedBy\n        lastRefreshedAt\n        lastError\n        updatedAt\n      }\n    }\n  }\n": types.McpOauthDocument,
    "\n  mutation ConnectMcpServer($input: ConnectMcpServerInput!) {\n    connectMcpServer(input: $input) {\n      url\n      authorizationUrl\n      expiresAt\n    }\n  }\n": types.ConnectMcpServerDocument,
    "\n  mutation DisconnectMcpServer($input: DisconnectMcpServerInput!) {\n    disconnectMcpServer(input: $input) {\n      disconnected\n      url\n    }\n  }\n": types.DisconnectMcpServerDocument,
    "\n  fragment NotificationDeliveryRowFields on NotificationDelivery {\n    id\n    event\n    endpointId\n    notificationEndpointByEndpointId {\n      name\n    }\n    subjectId\n    status\n    attempts\n    lastStatusCode\n    lastError\n    createdAt\n    deliveredAt\n    nextAttemptAt\n    giveUpAt\n  }\n": types.NotificationDeliveryRowFieldsFragmentDoc,
    "\n  query Notifications($endpoints: Int!, $deliveries: Int!, $condition: NotificationDeliveryCondition) {\n    notificationEndpoints(first: $endpoints) {\n      totalCount\n      nodes {\n        id\n        name\n        url\n        events\n        agentId\n        agentByAgentId {\n          name\n        }\n        secretName\n        retryInitialSeconds\n        enabled\n      }\n    }\n    notificationDeliveries(first: $deliveries, condition: $condition) {\n      totalCount\n      pageInfo {\n        hasNextPage\n      }\n      nodes {\n        ...NotificationDeliveryRowFields\n      }\n    }\n  }\n": types.NotificationsDocument,
    "\n  query NotificationDelivery($id: UUID!) {\n    notificationDelivery(id: $id) {\n      ...NotificationDeliveryRowFields\n      payload\n      attemptLog(first: 100) {\n        nodes {\n          id\n          attempt\n          startedAt\n          finishedAt\n          outcome\n          statusCode\n          error\n        }\n      }\n    }\n  }\n": types.NotificationDeliveryDocument,
    "\n  mutation ResendNotification($id: UUID!) {\n    resendNotification(id: $id) {\n      notificationDelivery {\n        ...NotificationDeliveryRowFields\n      }\n    }\n  }\n": types.ResendNotificationDocument,
    "\n  query ModelPrices {\n    allModelPrices(first: 1000, orderBy: [PROVIDER_ASC, MODEL_ASC]) {\n      totalCount\n      nodes {\n        id\n        provider\n        model\n        inputPerMillion\n        outputPerMillion\n        cacheReadPerMillion\n        cacheWritePerMillion\n        updatedAt\n      }\n    }\n  }\n": types.ModelPricesDocument,
    "\n  query ModelCatalog {\n    modelCatalog {\n      provider\n      modelPrefix\n      contextWindow\n      maxOutputTokens\n      inputPerMillion\n      outputPerMillion\n      cacheReadPerMillion\n      cacheWritePerMillion\n      thinking\n      reasoning\n      caching\n      structuredOutput\n      adaptiveThinking\n      thinkingOff\n      forcedToolChoice\n      outputFormat\n      temperature\n      effortLevels\n      fromOperatorFile\n    }\n  }\n": types.ModelCatalogDocument,
    "\n  mutation SetModelPrice(\n    $provider: String!\n    $model: String!\n    $inputPerMillion: Float!\n    $outputPerMillion: Float!\n    $cacheReadPerMillion: Float\n    $cacheWritePerMillion: Float\n  ) {\n    setModelPrice(\n      provider: $provider\n      model: $model\n      inputPerMillion: $inputPerMillion\n      outputPerMillion: $outputPerMillion\n      cacheReadPerMillion: $cacheReadPerMillion\n      cacheWritePerMillion: $cacheWritePerMillion\n    ) {\n      provider\n      model\n      updatedAt\n    }\n  }\n": types.SetModelPriceDocument,
    "\n  mutation DeleteModelPrice($provider: String!, $model: String!) {\n    deleteModelPrice(provider: $provider, model: $model) {\n      provider\n      model\n      deleted\n    }\n  }\n": types.DeleteModelPriceDocument,
    "\n  query RunQueue($id: UUID!) {\n    runById(id: $id) {\n      id\n      priority\n      admittedAt\n    }\n    explainQueue(runId: $id) {\n      admitted\n      heldBy\n      position\n      message\n    }\n  }\n": types.RunQueueDocument,
    "\n  query RunTree($id: UUID!) {\n    runById(id: $id) {\n      id\n      callerToolCallId\n      treeUsage\n      caller {\n        id\n        status\n        agentByAgentId {\n          name\n        }\n      }\n      root {\n        id\n        status\n        agentByAgentId {\n          name\n        }\n      }\n      childrenList {\n        id\n        status\n        parentRunId\n        continuedBy\n        callerToolCallId\n        usage\n        agentByAgentId {\n          name\n        }\n      }\n      awaitingDescendantsList {\n        id\n        agentByAgentId {\n          name\n        }\n      }\n    }\n  }\n": types.RunTreeDocument,
    "\n  fragment ScheduleRowFields on Schedule {\n    id\n    name\n    agentId\n    agentByAgentId {\n      name\n    }\n    cron\n    intervalSeconds\n    timezone\n    nextFireAt\n    lastFireAt\n    paused\n    pausedNote\n    specError\n    consecutiveFailures\n    pauseAfterFailures\n    missedTotal\n    updatedAt\n  }\n": types.ScheduleRowFieldsFragmentDoc,
    "\n  fragment ScheduleFields on Schedule {\n    ...ScheduleRowFields\n    input\n    overlap\n    catchUp\n    catchUpMax\n    misfireGraceSeconds\n    thread\n    threadId\n    createdAt\n    nextFireTimes(count: 10)\n  }\n": types.ScheduleFieldsFragmentDoc,
    "\n  query Schedules($first: Int!) {\n    schedules(first: $first) {\n      totalCount\n      pageInfo {\n        hasNextPage\n      }\n      nodes {\n        ...ScheduleRowFields\n      }\n    }\n  }\n": types.SchedulesDocument,
    "\n  query Schedule($id: UUID!, $fires: Int!) {\n    schedule(id: $id) {\n      ...ScheduleFields\n      fires(first: $fires) {\n        totalCount\n        nodes {\n          id\n          occurrenceAt\n          firedAt\n          startedAt\n          status\n          reason\n          runId\n          run {\n            id\n            status\n          }\n        }\n      }\n    }\n  }\n": types.ScheduleDocument,
    "\n  mutation PauseSchedule($id: UUID!, $note: String) {\n    pauseSchedule(id: $id, note: $note) {\n      schedule {\n        ...ScheduleFields\n      }\n    }\n  }\n": types.PauseScheduleDocument,
    "\n  mutation ResumeSchedule($id: UUID!) {\n    resumeSchedule(id: $id) {\n      schedule {\n        ...ScheduleFields\n      }\n    }\n  }\n": types.ResumeScheduleDocument,
    "\n  query Webhooks($first: Int!) {\n    webhooks(first: $first) {\n      totalCount\n      pageInfo {\n        hasNextPage\n      }\n      nodes {\n        id\n        name\n        agentId\n        agentByAgentId {\n          name\n        }\n        verify\n        secretNames\n        enabled\n        path\n        deliveries(first: 100) {\n          totalCount\n          nodes {\n            id\n            receivedAt\n          }\n        }\n      }\n    }\n  }\n": types.WebhooksDocument,
    "\n  query Webhook($id: UUID!, $deliveries: Int!) {\n    webhook(id: $id) {\n      id\n      name\n      agentId\n      agentByAgentId {\n        name\n      }\n      verify\n      secretNames\n      signatureHeader\n      signaturePrefix\n      toleranceSeconds\n      dedupePointer\n      inputTemplate\n      threadKeyPointer\n      maxBodyBytes\n      enabled\n      path\n      createdAt\n      updatedAt\n      deliveries(first: $deliveries) {\n        totalCount\n        nodes {\n          id\n          receivedAt\n          deliveryKey\n          verifiedWith\n          duplicates\n          lastDuplicateAt\n          test\n          threadKey\n          payloadBytes\n          runId\n          run {\n            id\n            status\n          }\n        }\n      }\n    }\n  }\n": types.WebhookDocument,
    "\n  mutation SendTestWebhookDelivery($id: UUID!, $payload: JSON) {\n    sendTestWebhookDelivery(id: $id, payload: $payload) {\n      runId\n      deliveryId\n      duplicate\n      run {\n        id\n        status\n      }\n    }\n  }\n": types.SendTestWebhookDeliveryDocument,
    "\n  query ApprovalHistory {\n    answerAudit: allAuditLogs(condition: { action: \"approval.answered\" }, orderBy: SEQ_DESC, first: 50) {\n      nodes {\n        id\n        at\n        actor\n        targetId\n        details\n      }\n    }\n    answeredRuns: allRuns(condition: { status: \"interrupted\" }, orderBy: CREATED_AT_DESC, first: 200) {\n      nodes {\n        id\n        agentId\n        continuedBy\n        agentByAgentId {\n          id\n          name\n        }\n        finished: runEventsByRunId(condition: { type: \"RUN_FINISHED\" }, orderBy: SEQ_DESC, first: 1) {\n          nodes {\n            event\n          }\n        }\n        runByContinuedBy {\n          id\n          input\n        }\n      }\n    }\n  }\n": types.ApprovalHistoryDocument,
    "\n  query WorkspaceLimits {\n    workspaceLimits {\n      workspaceId\n      workspaceName\n      maxQueuedRuns\n      runsPerMinute\n      maxRunningRuns\n      weight\n      maxTokensPerDay\n      maxCostUsdPerDay\n      dedicated\n      queuedRuns\n      pendingRuns\n      activeRuns\n      oldestPendingAt\n      tokensToday\n      costUsdToday\n      tokens\n      updatedAt\n    }\n  }\n": types.WorkspaceLimitsDocument,
    "\n  fragment NavRunRowFields on Run {\n    ...RunRowFields\n    agentVersion\n  }\n": types.NavRunRowFieldsFragmentDoc,
    "\n  query NavRuns($condition: RunCondition, $first: Int!, $after: Cursor) {\n    allRuns(condition: $condition, orderBy: CREATED_AT_DESC, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        ...NavRunRowFields\n      }\n    }\n  }\n": types.NavRunsDocument,
    "\n  subscription NavRunsUpdated {\n    runUpdated {\n      runId\n      run {\n        ...NavRunRowFields\n      }\n    }\n  }\n": types.NavRunsUpdatedDocument,
    "\n  query NavAgents {\n    allAgents(orderBy: NAME_ASC, first: 1000) {\n      nodes {\n        id\n        name\n        version\n      }\n    }\n  }\n": types.NavAgentsDocument,
    "\n  query Threads($first: Int!, $offset: Int!, $agentId: UUID) {\n    threadSummaries(first: $first, offset: $offset, agentId: $agentId) {\n      hasNextPage\n      nodes {\n        threadId\n        agentId\n        agentName\n        createdAt\n        lastActivityAt\n        runCount\n        latestRunId\n        latestRunStatus\n        title\n      }\n    }\n  }\n": types.ThreadsDocument,
    "\n  query WorkersAndQueue($queueWindow: Int!, $queueBucket: Int!, $stalledSeconds: Int!) {\n    workerStatuses {\n      poolId\n      hostname\n      pid\n      concurrency\n      startedAt\n      lastSeenAt\n      steps {\n        runId\n        agentName\n        status\n        step\n        attempt\n        stepStartedAt\n        lockedAt\n      }\n    }\n    workerExits(windowSeconds: 86400, first: 50) {\n      poolId\n      hostname\n      pid\n      concurrency\n      startedAt\n      exitedAt\n      crashed\n      freedRunIds\n    }\n    queueDepth {\n      ready\n      scheduled\n      running\n      oldestReadyAgeMs\n    }\n    queueHistory(windowSeconds: $queueWindow, bucketSeconds: $queueBucket) {\n      start\n      ready\n      scheduled\n      running\n      oldestReadyAgeMs\n    }\n    scheduledTimers(first: 100) {\n      runId\n      agentName\n      kind\n      eventName\n      until\n      since\n    }\n    stuckRuns(stalledSeconds: $stalledSeconds, first: 100) {\n      runId\n      agentName\n      status\n      reason\n      step\n      attempt\n      since\n    }\n  }\n": types.WorkersAndQueueDocument,
    "\n  fragment RunRowFields on Run {\n    id\n    status\n    agentId\n    threadId\n    parentRunId\n    usage\n    error\n    # the last report_progress ({message, fraction, at}; null: none): the table's progress cell\n    progress\n    createdAt\n    startedAt\n    finishedAt\n    updatedAt\n    agentByAgentId {\n      id\n      name\n    }\n    runStepsByRunId {\n      totalCount\n    }\n    # the step in progress of a running run (runUpdated pushes it on every attempt)\n    current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {\n      nodes {\n        seq\n        attempt\n        stepKind\n        stepName\n        outcome\n      }\n    }\n  }\n": types.RunRowFieldsFragmentDoc,
    "\n  fragment RunFields on Run {\n    id\n    status\n    agentId\n    agentVersion\n    threadId\n    parentRunId\n    continuedBy\n    rerunOf\n    input\n    output\n    error\n    usage\n    createdAt\n    startedAt\n    finishedAt\n    updatedAt\n    waiting\n    # the run's last progress report (report_progress, 000030; null: none): pushed with\n    # runUpdated on every step commit, which is how the run page follows it\n    progress\n    agentByAgentId {\n      id\n      name\n    }\n    stepCount: runStepsByRunId {\n      totalCount\n    }\n    current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {\n      nodes {\n        ...RunAttemptFields\n      }\n    }\n  }\n": types.RunFieldsFragmentDoc,
    "\n  fragment RunAttemptFields on RunAttempt {\n    seq\n    attempt\n    stepKind\n    stepName\n    poolId\n    hostname\n    workerPid\n    startedAt\n    endedAt\n    lastEventAt\n    freedAt\n    outcome\n    error\n    eventsFrom\n    lastEventSeq\n    closedThroughSeq\n  }\n": types.RunAttemptFieldsFragmentDoc,
    "\n  query RunAttempts($id: UUID!) {\n    allRunAttempts(condition: { runId: $id }, orderBy: PRIMARY_KEY_ASC, first: 1000) {\n      nodes {\n        ...RunAttemptFields\n      }\n    }\n  }\n": types.RunAttemptsDocument,
    "\n  fragment ParentFinished on Run {\n    parent: runByParentRunId {\n      finished: runEventsByRunId(condition: { type: \"RUN_FINISHED\" }, orderBy: SEQ_DESC, first: 1) {\n        nodes {\n          event\n        }\n      }\n    }\n  }\n": types.ParentFinishedFragmentDoc,
    "\n  query Runs($condition: RunCondition, $first: Int!, $after: Cursor) {\n    allRuns(condition: $condition, orderBy: CREATED_AT_DESC, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        ...RunRowFields\n      }\n    }\n  }\n": types.RunsDocument,
    "\n  subscription RunsUpdated {\n    runUpdated {\n      runId\n      run {\n        ...RunRowFields\n      }\n    }\n  }\n": types.RunsUpdatedDocument,
    "\n  query AgentNames {\n    allAgents(orderBy: NAME_ASC, first: 1000) {\n      nodes {\n        id\n        name\n      }\n    }\n  }\n": types.AgentNamesDocument,
    "\n  query RunDetail($id: UUID!) {\n    runById(id: $id) {\n      ...RunFields\n      ...ParentFinished\n      # the run's live state (update_state, 000030; up to 256 KiB): the run page's only, not in\n      # RunFields, which the thread page reads for each of its runs\n      state\n      # what the run and the runs it continues spent, against the agent's config.budget (000032)\n      budgetSpend\n      # when retention removed its events and steps (000038), and the workspace's retention\n      historyExpiredAt\n      workspaceByWorkspaceId {\n        retentionDays\n      }\n      agentVersionByAgentIdAndAgentVersion {\n        version\n        config\n      }\n      runByContinuedBy {\n        id\n        status\n        # its input.resume: approve or reject, and the reason (the conversation shows them)\n        input\n      }\n    }\n  }\n": types.RunDetailDocument,
    "\n  fragment RunStepFields on RunStep {\n    seq\n    kind\n    name\n    status\n    attempt\n    startedAt\n    finishedAt\n    durationMs\n    error\n    usage\n  }\n": types.RunStepFieldsFragmentDoc,
    "\n  query RunSteps($id: UUID!) {\n    allRunSteps(condition: { runId: $id }, orderBy: SEQ_ASC, first: 1000) {\n      nodes {\n        ...RunStepFields\n      }\n    }\n  }\n": types.RunStepsDocument,
    "\n  subscription RunUpdated($id: UUID!) {\n    runUpdated(runId: $id) {\n      runId\n      run {\n        ...RunFields\n        # pushed on every step commit: the commit of an update_state step is the one that changes it\n        state\n      }\n    }\n  }\n": types.RunUpdatedDocument,
    "\n  subscription RunAnswers {\n    runUpdated {\n      run {\n        parentRunId\n      }\n    }\n  }\n": types.RunAnswersDocument,
    "\n  subscription RunEvents($runId: UUID!, $after: Int) {\n    runEvents(runId: $runId, after: $after) {\n      seq\n      type\n      event\n    }\n  }\n": types.RunEventsDocument,
    "\n  mutation StartRun($agent: String!, $input: JSON!, $threadId: UUID) {\n    startRun(agent: $agent, input: $input, threadId: $threadId) {\n      runId\n    }\n  }\n": types.StartRunDocument,
    "\n  mutation CancelRun($runId: UUID!, $reason: String) {\n    cancelRun(runId: $runId, reason: $reason) {\n      cancelled\n      run {\n        id\n        status\n      }\n    }\n  }\n": types.CancelRunDocument,
    "\n  mutation ResumeRun($runId: UUID!, $resume: JSON!, $reason: String) {\n    resumeRun(runId: $runId, resume: $resume, reason: $reason) {\n      runId\n    }\n  }\n": types.ResumeRunDocument,
    "\n  mutation SendEvent($runId: UUID!, $name: String!, $payload: JSON, $reason: String) {\n    sendEvent(runId: $runId, name: $name, payload: $payload, reason: $reason) {\n      woke\n      run {\n        id\n        status\n        updatedAt\n      }\n    }\n  }\n": types.SendEventDocument,
    "\n  mutation RerunRun($runId: UUID!, $reason: String, $fromStep: Int) {\n    rerunRun(runId: $runId, reason: $reason, fromStep: $fromStep) {\n      runId\n    }\n  }\n": types.RerunRunDocument,
    "\n  query RerunFromStepContext($id: UUID!) {\n    runById(id: $id) {\n      id\n      status\n      parentRunId\n      agentVersion\n      threadByThreadId {\n        runsByThreadId(orderBy: [CREATED_AT_DESC, ID_DESC], first: 1) {\n          nodes {\n            id\n          }\n        }\n      }\n    }\n  }\n": types.RerunFromStepContextDocument,
    "\n  query RunInterrupts($id: UUID!) {\n    runById(id: $id) {\n      id\n      status\n      continuedBy\n      interrupts\n    }\n  }\n": types.RunInterruptsDocument,
    "\n  query Agents {\n    allAgents(orderBy: NAME_ASC, first: 1000) {\n      nodes {\n        id\n        name\n        config\n        version\n        createdAt\n        updatedAt\n        runsByAgentId {\n          totalCount\n        }\n      }\n    }\n  }\n": types.AgentsDocument,
    "\n  query Agent($id: UUID!) {\n    agentById(id: $id) {\n      id\n      name\n      config\n      version\n      createdAt\n      updatedAt\n      agentVersionsByAgentId(orderBy: VERSION_DESC, first: 1000) {\n        nodes {\n          agentId\n          version\n          config\n          createdAt\n        }\n      }\n      runsByAgentId(orderBy: CREATED_AT_DESC, first: 8) {\n        totalCount\n        nodes {\n          ...RunRowFields\n        }\n      }\n    }\n  }\n": types.AgentDocument,
    "\n  mutation CreateAgent($name: String!, $config: JSON!) {\n    createAgent(input: { agent: { name: $name, config: $config } }) {\n      agent {\n        id\n      }\n    }\n  }\n": types.CreateAgentDocument,
    "\n  mutation UpdateAgent($id: UUID!, $config: JSON!) {\n    updateAgentById(input: { id: $id, agentPatch: { config: $config } }) {\n      agent {\n        id\n        version\n      }\n    }\n  }\n": types.UpdateAgentDocument,
    "\n  query Thread($id: UUID!) {\n    threadById(id: $id) {\n      id\n      createdAt\n      agentByAgentId {\n        id\n        name\n      }\n      runsByThreadId(orderBy: CREATED_AT_ASC, first: 1000) {\n        nodes {\n          ...RunFields\n          ...ParentFinished\n        }\n      }\n    }\n  }\n": types.ThreadDocument,
    "\n  subscription ThreadRunsUpdated {\n    runUpdated {\n      runId\n      run {\n        threadId\n        status\n      }\n    }\n  }\n": types.ThreadRunsUpdatedDocument,
    "\n  query Approvals {\n    runsAwaitingAnswerCount\n    runsAwaitingAnswer(first: 200) {\n      ...RunRowFields\n      input\n      finished: runEventsByRunId(condition: { type: \"RUN_FINISHED\" }, orderBy: SEQ_DESC, first: 1) {\n        nodes {\n          event\n        }\n      }\n    }\n  }\n": types.ApprovalsDocument,
    "\n  subscription RunStatusUpdated {\n    runUpdated {\n      runId\n      run {\n        status\n        parentRunId\n      }\n    }\n  }\n": types.RunStatusUpdatedDocument,
    "\n  query PendingApprovals {\n    runsAwaitingAnswerCount\n  }\n": types.PendingApprovalsDocument,
    "\n  query Dashboard($window: Int!, $bucket: Int!, $days: Int!) {\n    runStatusCounts(windowSeconds: $window) {\n      status\n      count\n    }\n    runThroughput(windowSeconds: $window, bucketSeconds: $bucket) {\n      start\n      started\n      succeeded\n      failed\n      cancelled\n      interrupted\n      steps\n      stepP50Ms\n      stepP95Ms\n    }\n    agentDailyUsage(days: $days) {\n      day\n      agentId\n      agentName\n      runs\n      inputTokens\n      outputTokens\n      cacheReadTokens\n      cacheWriteTokens\n      reasoningTokens\n      costUsd\n    }\n    liveWorkers {\n      poolId\n      hostname\n      pid\n      concurrency\n      startedAt\n      runningJobs\n    }\n    queueDepth {\n      ready\n      scheduled\n      running\n      oldestReadyAgeMs\n    }\n    runsAwaitingAnswerCount\n    failures: allRuns(condition: { status: \"failed\" }, orderBy: CREATED_AT_DESC, first: 8) {\n      nodes {\n        id\n        error\n        finishedAt\n        createdAt\n        agentByAgentId {\n          id\n          name\n        }\n      }\n    }\n  }\n": types.DashboardDocument,
    "\n  subscription DashboardUpdated {\n    runUpdated {\n      runId\n    }\n  }\n": types.DashboardUpdatedDocument,
    "\n  query Whoami {\n    whoami {\n      keyId\n      workspaceId\n      workspaceName\n      role\n    }\n  }\n": types.WhoamiDocument,
    "\n  query WorkflowRun($id: UUID!) {\n    runById(id: $id) {\n      id\n      parentRunId\n      runStepsByRunId(orderBy: SEQ_ASC, first: 1000) {\n        nodes {\n          ...WorkflowStepFields\n        }\n      }\n      threadByThreadId {\n        runsByThreadId(orderBy: CREATED_AT_DESC, first: 30) {\n          nodes {\n            id\n            parentRunId\n            runStepsByRunId(orderBy: SEQ_ASC, first: 1000) {\n              nodes {\n                ...WorkflowStepFields\n              }\n            }\n          }\n        }\n      }\n    }\n  }\n  fragment WorkflowStepFields on RunStep {\n    seq\n    kind\n    name\n    status\n    finishedAt\n    output\n  }\n": types.WorkflowRunDocument,
    "\n  query RunTraceId($id: UUID!) {\n    runById(id: $id) {\n      id\n      traceParent\n    }\n  }\n": types.RunTraceIdDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment BatchProgressFields on BatchProgress {\n    total\n    queued\n    running\n    succeeded\n    failed\n    cancelled\n    inputTokens\n    outputTokens\n    costUsd\n    itemsPerMinute\n    etaSeconds\n  }\n"): typeof import('./graphql').BatchProgressFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment BatchRowFields on Batch {\n    id\n    name\n    status\n    agentId\n    agentVersion\n    agentByAgentId {\n      name\n    }\n    maxParallel\n    createdAt\n    startedAt\n    finishedAt\n    updatedAt\n    progress {\n      ...BatchProgressFields\n    }\n  }\n"): typeof import('./graphql').BatchRowFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment BatchFields on Batch {\n    ...BatchRowFields\n    priority\n    onItemError\n    stopAfterFailures\n    stopAfterRatio\n    deadline\n    error\n    # the chart: finished items per minute, last 30 minutes, oldest first\n    throughput(minutes: 30) {\n      minute\n      finished\n    }\n  }\n"): typeof import('./graphql').BatchFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Batches($condition: BatchCondition, $first: Int!) {\n    batches(condition: $condition, orderBy: CREATED_AT_DESC, first: $first) {\n      totalCount\n      pageInfo {\n        hasNextPage\n      }\n      nodes {\n        ...BatchRowFields\n      }\n    }\n  }\n"): typeof import('./graphql').BatchesDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Batch($id: UUID!) {\n    batch(id: $id) {\n      ...BatchFields\n    }\n  }\n"): typeof import('./graphql').BatchDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription BatchProgress($batchId: UUID!) {\n    batchProgress(batchId: $batchId) {\n      batchId\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n"): typeof import('./graphql').BatchProgressDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query BatchItems($id: UUID!, $condition: BatchItemCondition, $first: Int!, $offset: Int!) {\n    batch(id: $id) {\n      id\n      items(condition: $condition, orderBy: ORDINAL_ASC, first: $first, offset: $offset) {\n        totalCount\n        nodes {\n          id\n          customId\n          status\n          attempts\n          output\n          error\n          finishedAt\n          runId\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').BatchItemsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation PauseBatch($batchId: UUID!) {\n    pauseBatch(batchId: $batchId) {\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n"): typeof import('./graphql').PauseBatchDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ResumeBatch($batchId: UUID!) {\n    resumeBatch(batchId: $batchId) {\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n"): typeof import('./graphql').ResumeBatchDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation StartBatch($batchId: UUID!) {\n    startBatch(batchId: $batchId) {\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n"): typeof import('./graphql').StartBatchDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CancelBatch($batchId: UUID!) {\n    cancelBatch(batchId: $batchId) {\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n"): typeof import('./graphql').CancelBatchDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetBatchParallel($batchId: UUID!, $maxParallel: Int!) {\n    setBatchParallel(batchId: $batchId, maxParallel: $maxParallel) {\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n"): typeof import('./graphql').SetBatchParallelDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RetryFailedItems($batchId: UUID!, $includeCancelled: Boolean) {\n    retryFailedItems(batchId: $batchId, includeCancelled: $includeCancelled) {\n      retried\n      batch {\n        ...BatchFields\n      }\n    }\n  }\n"): typeof import('./graphql').RetryFailedItemsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RunBatch($id: UUID!) {\n    runById(id: $id) {\n      id\n      batchId\n      batchItemByBatchItemId {\n        id\n        customId\n      }\n      batchByBatchId {\n        id\n        name\n      }\n    }\n  }\n"): typeof import('./graphql').RunBatchDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query DashboardObservability($window: Int!, $bucket: Int!) {\n    stepLatencyByKindList(windowSeconds: $window) {\n      kind\n      steps\n      failed\n      p50Ms\n      p95Ms\n      p99Ms\n      maxMs\n    }\n    resumeLatencyList(windowSeconds: $window, bucketSeconds: $bucket) {\n      bucketStart\n      attempts\n      lost\n      resumed\n      p50Ms\n      p95Ms\n      maxMs\n    }\n    providerStepStatsList(windowSeconds: $window) {\n      provider\n      steps\n      failed\n      attempts\n      retried\n      lost\n      errorRate\n      attemptsPerStep\n      p95Ms\n    }\n    workspaceLimits {\n      workspaceId\n      maxQueuedRuns\n      maxRunningRuns\n      maxTokensPerDay\n      maxCostUsdPerDay\n      queuedRuns\n      activeRuns\n      tokensToday\n      costUsdToday\n    }\n  }\n"): typeof import('./graphql').DashboardObservabilityDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query McpServers {\n    allMcpServers(first: 500, orderBy: [SERVER_ASC, AGENT_NAME_ASC, AGENT_ID_ASC]) {\n      totalCount\n      nodes {\n        nodeId\n        agentId\n        agentName\n        server\n        endpoint\n        status\n        tools\n        toolCount\n        listedAt\n        lastError\n        lastErrorAt\n        pinnedRuns\n      }\n    }\n  }\n"): typeof import('./graphql').McpServersDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RunMcp($id: UUID!, $parentId: UUID!) {\n    allRunMcpTools(condition: { runId: $id }, first: 100, orderBy: [SERVER_ASC]) {\n      nodes {\n        server\n        pinnedAt\n        listId\n        mcpToolListByListId {\n          id\n          endpoint\n          fetchedAt\n          tools\n        }\n      }\n    }\n    own: allToolDispatches(condition: { runId: $id }, first: 200) {\n      nodes {\n        runId\n        toolCallId\n        toolName\n        dispatches\n        state\n        lastDispatchedAt\n        authorizedBy\n        lastRunId\n      }\n    }\n    parent: allToolDispatches(condition: { runId: $parentId }, first: 200) {\n      nodes {\n        runId\n        toolCallId\n        toolName\n        dispatches\n        state\n        lastDispatchedAt\n        authorizedBy\n        lastRunId\n      }\n    }\n  }\n"): typeof import('./graphql').RunMcpDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query McpOauth {\n    allAgents(orderBy: NAME_ASC, first: 1000) {\n      nodes {\n        id\n        name\n        config\n      }\n    }\n    allMcpOauthConnections(orderBy: [SERVER_URL_ASC], first: 500) {\n      nodes {\n        nodeId\n        serverUrl\n        status\n        scopes\n        clientId\n        expiresAt\n        connectedAt\n        connectedBy\n        lastRefreshedAt\n        lastError\n        updatedAt\n      }\n    }\n  }\n"): typeof import('./graphql').McpOauthDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ConnectMcpServer($input: ConnectMcpServerInput!) {\n    connectMcpServer(input: $input) {\n      url\n      authorizationUrl\n      expiresAt\n    }\n  }\n"): typeof import('./graphql').ConnectMcpServerDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DisconnectMcpServer($input: DisconnectMcpServerInput!) {\n    disconnectMcpServer(input: $input) {\n      disconnected\n      url\n    }\n  }\n"): typeof import('./graphql').DisconnectMcpServerDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment NotificationDeliveryRowFields on NotificationDelivery {\n    id\n    event\n    endpointId\n    notificationEndpointByEndpointId {\n      name\n    }\n    subjectId\n    status\n    attempts\n    lastStatusCode\n    lastError\n    createdAt\n    deliveredAt\n    nextAttemptAt\n    giveUpAt\n  }\n"): typeof import('./graphql').NotificationDeliveryRowFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Notifications($endpoints: Int!, $deliveries: Int!, $condition: NotificationDeliveryCondition) {\n    notificationEndpoints(first: $endpoints) {\n      totalCount\n      nodes {\n        id\n        name\n        url\n        events\n        agentId\n        agentByAgentId {\n          name\n        }\n        secretName\n        retryInitialSeconds\n        enabled\n      }\n    }\n    notificationDeliveries(first: $deliveries, condition: $condition) {\n      totalCount\n      pageInfo {\n        hasNextPage\n      }\n      nodes {\n        ...NotificationDeliveryRowFields\n      }\n    }\n  }\n"): typeof import('./graphql').NotificationsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query NotificationDelivery($id: UUID!) {\n    notificationDelivery(id: $id) {\n      ...NotificationDeliveryRowFields\n      payload\n      attemptLog(first: 100) {\n        nodes {\n          id\n          attempt\n          startedAt\n          finishedAt\n          outcome\n          statusCode\n          error\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').NotificationDeliveryDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ResendNotification($id: UUID!) {\n    resendNotification(id: $id) {\n      notificationDelivery {\n        ...NotificationDeliveryRowFields\n      }\n    }\n  }\n"): typeof import('./graphql').ResendNotificationDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ModelPrices {\n    allModelPrices(first: 1000, orderBy: [PROVIDER_ASC, MODEL_ASC]) {\n      totalCount\n      nodes {\n        id\n        provider\n        model\n        inputPerMillion\n        outputPerMillion\n        cacheReadPerMillion\n        cacheWritePerMillion\n        updatedAt\n      }\n    }\n  }\n"): typeof import('./graphql').ModelPricesDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ModelCatalog {\n    modelCatalog {\n      provider\n      modelPrefix\n      contextWindow\n      maxOutputTokens\n      inputPerMillion\n      outputPerMillion\n      cacheReadPerMillion\n      cacheWritePerMillion\n      thinking\n      reasoning\n      caching\n      structuredOutput\n      adaptiveThinking\n      thinkingOff\n      forcedToolChoice\n      outputFormat\n      temperature\n      effortLevels\n      fromOperatorFile\n    }\n  }\n"): typeof import('./graphql').ModelCatalogDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetModelPrice(\n    $provider: String!\n    $model: String!\n    $inputPerMillion: Float!\n    $outputPerMillion: Float!\n    $cacheReadPerMillion: Float\n    $cacheWritePerMillion: Float\n  ) {\n    setModelPrice(\n      provider: $provider\n      model: $model\n      inputPerMillion: $inputPerMillion\n      outputPerMillion: $outputPerMillion\n      cacheReadPerMillion: $cacheReadPerMillion\n      cacheWritePerMillion: $cacheWritePerMillion\n    ) {\n      provider\n      model\n      updatedAt\n    }\n  }\n"): typeof import('./graphql').SetModelPriceDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteModelPrice($provider: String!, $model: String!) {\n    deleteModelPrice(provider: $provider, model: $model) {\n      provider\n      model\n      deleted\n    }\n  }\n"): typeof import('./graphql').DeleteModelPriceDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RunQueue($id: UUID!) {\n    runById(id: $id) {\n      id\n      priority\n      admittedAt\n    }\n    explainQueue(runId: $id) {\n      admitted\n      heldBy\n      position\n      message\n    }\n  }\n"): typeof import('./graphql').RunQueueDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RunTree($id: UUID!) {\n    runById(id: $id) {\n      id\n      callerToolCallId\n      treeUsage\n      caller {\n        id\n        status\n        agentByAgentId {\n          name\n        }\n      }\n      root {\n        id\n        status\n        agentByAgentId {\n          name\n        }\n      }\n      childrenList {\n        id\n        status\n        parentRunId\n        continuedBy\n        callerToolCallId\n        usage\n        agentByAgentId {\n          name\n        }\n      }\n      awaitingDescendantsList {\n        id\n        agentByAgentId {\n          name\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').RunTreeDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ScheduleRowFields on Schedule {\n    id\n    name\n    agentId\n    agentByAgentId {\n      name\n    }\n    cron\n    intervalSeconds\n    timezone\n    nextFireAt\n    lastFireAt\n    paused\n    pausedNote\n    specError\n    consecutiveFailures\n    pauseAfterFailures\n    missedTotal\n    updatedAt\n  }\n"): typeof import('./graphql').ScheduleRowFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ScheduleFields on Schedule {\n    ...ScheduleRowFields\n    input\n    overlap\n    catchUp\n    catchUpMax\n    misfireGraceSeconds\n    thread\n    threadId\n    createdAt\n    nextFireTimes(count: 10)\n  }\n"): typeof import('./graphql').ScheduleFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Schedules($first: Int!) {\n    schedules(first: $first) {\n      totalCount\n      pageInfo {\n        hasNextPage\n      }\n      nodes {\n        ...ScheduleRowFields\n      }\n    }\n  }\n"): typeof import('./graphql').SchedulesDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Schedule($id: UUID!, $fires: Int!) {\n    schedule(id: $id) {\n      ...ScheduleFields\n      fires(first: $fires) {\n        totalCount\n        nodes {\n          id\n          occurrenceAt\n          firedAt\n          startedAt\n          status\n          reason\n          runId\n          run {\n            id\n            status\n          }\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').ScheduleDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation PauseSchedule($id: UUID!, $note: String) {\n    pauseSchedule(id: $id, note: $note) {\n      schedule {\n        ...ScheduleFields\n      }\n    }\n  }\n"): typeof import('./graphql').PauseScheduleDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ResumeSchedule($id: UUID!) {\n    resumeSchedule(id: $id) {\n      schedule {\n        ...ScheduleFields\n      }\n    }\n  }\n"): typeof import('./graphql').ResumeScheduleDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Webhooks($first: Int!) {\n    webhooks(first: $first) {\n      totalCount\n      pageInfo {\n        hasNextPage\n      }\n      nodes {\n        id\n        name\n        agentId\n        agentByAgentId {\n          name\n        }\n        verify\n        secretNames\n        enabled\n        path\n        deliveries(first: 100) {\n          totalCount\n          nodes {\n            id\n            receivedAt\n          }\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').WebhooksDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Webhook($id: UUID!, $deliveries: Int!) {\n    webhook(id: $id) {\n      id\n      name\n      agentId\n      agentByAgentId {\n        name\n      }\n      verify\n      secretNames\n      signatureHeader\n      signaturePrefix\n      toleranceSeconds\n      dedupePointer\n      inputTemplate\n      threadKeyPointer\n      maxBodyBytes\n      enabled\n      path\n      createdAt\n      updatedAt\n      deliveries(first: $deliveries) {\n        totalCount\n        nodes {\n          id\n          receivedAt\n          deliveryKey\n          verifiedWith\n          duplicates\n          lastDuplicateAt\n          test\n          threadKey\n          payloadBytes\n          runId\n          run {\n            id\n            status\n          }\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').WebhookDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SendTestWebhookDelivery($id: UUID!, $payload: JSON) {\n    sendTestWebhookDelivery(id: $id, payload: $payload) {\n      runId\n      deliveryId\n      duplicate\n      run {\n        id\n        status\n      }\n    }\n  }\n"): typeof import('./graphql').SendTestWebhookDeliveryDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ApprovalHistory {\n    answerAudit: allAuditLogs(condition: { action: \"approval.answered\" }, orderBy: SEQ_DESC, first: 50) {\n      nodes {\n        id\n        at\n        actor\n        targetId\n        details\n      }\n    }\n    answeredRuns: allRuns(condition: { status: \"interrupted\" }, orderBy: CREATED_AT_DESC, first: 200) {\n      nodes {\n        id\n        agentId\n        continuedBy\n        agentByAgentId {\n          id\n          name\n        }\n        finished: runEventsByRunId(condition: { type: \"RUN_FINISHED\" }, orderBy: SEQ_DESC, first: 1) {\n          nodes {\n            event\n          }\n        }\n        runByContinuedBy {\n          id\n          input\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').ApprovalHistoryDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query WorkspaceLimits {\n    workspaceLimits {\n      workspaceId\n      workspaceName\n      maxQueuedRuns\n      runsPerMinute\n      maxRunningRuns\n      weight\n      maxTokensPerDay\n      maxCostUsdPerDay\n      dedicated\n      queuedRuns\n      pendingRuns\n      activeRuns\n      oldestPendingAt\n      tokensToday\n      costUsdToday\n      tokens\n      updatedAt\n    }\n  }\n"): typeof import('./graphql').WorkspaceLimitsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment NavRunRowFields on Run {\n    ...RunRowFields\n    agentVersion\n  }\n"): typeof import('./graphql').NavRunRowFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query NavRuns($condition: RunCondition, $first: Int!, $after: Cursor) {\n    allRuns(condition: $condition, orderBy: CREATED_AT_DESC, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        ...NavRunRowFields\n      }\n    }\n  }\n"): typeof import('./graphql').NavRunsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription NavRunsUpdated {\n    runUpdated {\n      runId\n      run {\n        ...NavRunRowFields\n      }\n    }\n  }\n"): typeof import('./graphql').NavRunsUpdatedDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query NavAgents {\n    allAgents(orderBy: NAME_ASC, first: 1000) {\n      nodes {\n        id\n        name\n        version\n      }\n    }\n  }\n"): typeof import('./graphql').NavAgentsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Threads($first: Int!, $offset: Int!, $agentId: UUID) {\n    threadSummaries(first: $first, offset: $offset, agentId: $agentId) {\n      hasNextPage\n      nodes {\n        threadId\n        agentId\n        agentName\n        createdAt\n        lastActivityAt\n        runCount\n        latestRunId\n        latestRunStatus\n        title\n      }\n    }\n  }\n"): typeof import('./graphql').ThreadsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query WorkersAndQueue($queueWindow: Int!, $queueBucket: Int!, $stalledSeconds: Int!) {\n    workerStatuses {\n      poolId\n      hostname\n      pid\n      concurrency\n      startedAt\n      lastSeenAt\n      steps {\n        runId\n        agentName\n        status\n        step\n        attempt\n        stepStartedAt\n        lockedAt\n      }\n    }\n    workerExits(windowSeconds: 86400, first: 50) {\n      poolId\n      hostname\n      pid\n      concurrency\n      startedAt\n      exitedAt\n      crashed\n      freedRunIds\n    }\n    queueDepth {\n      ready\n      scheduled\n      running\n      oldestReadyAgeMs\n    }\n    queueHistory(windowSeconds: $queueWindow, bucketSeconds: $queueBucket) {\n      start\n      ready\n      scheduled\n      running\n      oldestReadyAgeMs\n    }\n    scheduledTimers(first: 100) {\n      runId\n      agentName\n      kind\n      eventName\n      until\n      since\n    }\n    stuckRuns(stalledSeconds: $stalledSeconds, first: 100) {\n      runId\n      agentName\n      status\n      reason\n      step\n      attempt\n      since\n    }\n  }\n"): typeof import('./graphql').WorkersAndQueueDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment RunRowFields on Run {\n    id\n    status\n    agentId\n    threadId\n    parentRunId\n    usage\n    error\n    # the last report_progress ({message, fraction, at}; null: none): the table's progress cell\n    progress\n    createdAt\n    startedAt\n    finishedAt\n    updatedAt\n    agentByAgentId {\n      id\n      name\n    }\n    runStepsByRunId {\n      totalCount\n    }\n    # the step in progress of a running run (runUpdated pushes it on every attempt)\n    current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {\n      nodes {\n        seq\n        attempt\n        stepKind\n        stepName\n        outcome\n      }\n    }\n  }\n"): typeof import('./graphql').RunRowFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment RunFields on Run {\n    id\n    status\n    agentId\n    agentVersion\n    threadId\n    parentRunId\n    continuedBy\n    rerunOf\n    input\n    output\n    error\n    usage\n    createdAt\n    startedAt\n    finishedAt\n    updatedAt\n    waiting\n    # the run's last progress report (report_progress, 000030; null: none): pushed with\n    # runUpdated on every step commit, which is how the run page follows it\n    progress\n    agentByAgentId {\n      id\n      name\n    }\n    stepCount: runStepsByRunId {\n      totalCount\n    }\n    current: runAttemptsByRunId(orderBy: PRIMARY_KEY_DESC, first: 1) {\n      nodes {\n        ...RunAttemptFields\n      }\n    }\n  }\n"): typeof import('./graphql').RunFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment RunAttemptFields on RunAttempt {\n    seq\n    attempt\n    stepKind\n    stepName\n    poolId\n    hostname\n    workerPid\n    startedAt\n    endedAt\n    lastEventAt\n    freedAt\n    outcome\n    error\n    eventsFrom\n    lastEventSeq\n    closedThroughSeq\n  }\n"): typeof import('./graphql').RunAttemptFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RunAttempts($id: UUID!) {\n    allRunAttempts(condition: { runId: $id }, orderBy: PRIMARY_KEY_ASC, first: 1000) {\n      nodes {\n        ...RunAttemptFields\n      }\n    }\n  }\n"): typeof import('./graphql').RunAttemptsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ParentFinished on Run {\n    parent: runByParentRunId {\n      finished: runEventsByRunId(condition: { type: \"RUN_FINISHED\" }, orderBy: SEQ_DESC, first: 1) {\n        nodes {\n          event\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').ParentFinishedFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Runs($condition: RunCondition, $first: Int!, $after: Cursor) {\n    allRuns(condition: $condition, orderBy: CREATED_AT_DESC, first: $first, after: $after) {\n      totalCount\n      pageInfo {\n        hasNextPage\n        endCursor\n      }\n      nodes {\n        ...RunRowFields\n      }\n    }\n  }\n"): typeof import('./graphql').RunsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription RunsUpdated {\n    runUpdated {\n      runId\n      run {\n        ...RunRowFields\n      }\n    }\n  }\n"): typeof import('./graphql').RunsUpdatedDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AgentNames {\n    allAgents(orderBy: NAME_ASC, first: 1000) {\n      nodes {\n        id\n        name\n      }\n    }\n  }\n"): typeof import('./graphql').AgentNamesDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RunDetail($id: UUID!) {\n    runById(id: $id) {\n      ...RunFields\n      ...ParentFinished\n      # the run's live state (update_state, 000030; up to 256 KiB): the run page's only, not in\n      # RunFields, which the thread page reads for each of its runs\n      state\n      # what the run and the runs it continues spent, against the agent's config.budget (000032)\n      budgetSpend\n      # when retention removed its events and steps (000038), and the workspace's retention\n      historyExpiredAt\n      workspaceByWorkspaceId {\n        retentionDays\n      }\n      agentVersionByAgentIdAndAgentVersion {\n        version\n        config\n      }\n      runByContinuedBy {\n        id\n        status\n        # its input.resume: approve or reject, and the reason (the conversation shows them)\n        input\n      }\n    }\n  }\n"): typeof import('./graphql').RunDetailDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment RunStepFields on RunStep {\n    seq\n    kind\n    name\n    status\n    attempt\n    startedAt\n    finishedAt\n    durationMs\n    error\n    usage\n  }\n"): typeof import('./graphql').RunStepFieldsFragmentDoc;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RunSteps($id: UUID!) {\n    allRunSteps(condition: { runId: $id }, orderBy: SEQ_ASC, first: 1000) {\n      nodes {\n        ...RunStepFields\n      }\n    }\n  }\n"): typeof import('./graphql').RunStepsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription RunUpdated($id: UUID!) {\n    runUpdated(runId: $id) {\n      runId\n      run {\n        ...RunFields\n        # pushed on every step commit: the commit of an update_state step is the one that changes it\n        state\n      }\n    }\n  }\n"): typeof import('./graphql').RunUpdatedDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription RunAnswers {\n    runUpdated {\n      run {\n        parentRunId\n      }\n    }\n  }\n"): typeof import('./graphql').RunAnswersDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription RunEvents($runId: UUID!, $after: Int) {\n    runEvents(runId: $runId, after: $after) {\n      seq\n      type\n      event\n    }\n  }\n"): typeof import('./graphql').RunEventsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation StartRun($agent: String!, $input: JSON!, $threadId: UUID) {\n    startRun(agent: $agent, input: $input, threadId: $threadId) {\n      runId\n    }\n  }\n"): typeof import('./graphql').StartRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CancelRun($runId: UUID!, $reason: String) {\n    cancelRun(runId: $runId, reason: $reason) {\n      cancelled\n      run {\n        id\n        status\n      }\n    }\n  }\n"): typeof import('./graphql').CancelRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ResumeRun($runId: UUID!, $resume: JSON!, $reason: String) {\n    resumeRun(runId: $runId, resume: $resume, reason: $reason) {\n      runId\n    }\n  }\n"): typeof import('./graphql').ResumeRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SendEvent($runId: UUID!, $name: String!, $payload: JSON, $reason: String) {\n    sendEvent(runId: $runId, name: $name, payload: $payload, reason: $reason) {\n      woke\n      run {\n        id\n        status\n        updatedAt\n      }\n    }\n  }\n"): typeof import('./graphql').SendEventDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RerunRun($runId: UUID!, $reason: String, $fromStep: Int) {\n    rerunRun(runId: $runId, reason: $reason, fromStep: $fromStep) {\n      runId\n    }\n  }\n"): typeof import('./graphql').RerunRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RerunFromStepContext($id: UUID!) {\n    runById(id: $id) {\n      id\n      status\n      parentRunId\n      agentVersion\n      threadByThreadId {\n        runsByThreadId(orderBy: [CREATED_AT_DESC, ID_DESC], first: 1) {\n          nodes {\n            id\n          }\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').RerunFromStepContextDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RunInterrupts($id: UUID!) {\n    runById(id: $id) {\n      id\n      status\n      continuedBy\n      interrupts\n    }\n  }\n"): typeof import('./graphql').RunInterruptsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Agents {\n    allAgents(orderBy: NAME_ASC, first: 1000) {\n      nodes {\n        id\n        name\n        config\n        version\n        createdAt\n        updatedAt\n        runsByAgentId {\n          totalCount\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').AgentsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Agent($id: UUID!) {\n    agentById(id: $id) {\n      id\n      name\n      config\n      version\n      createdAt\n      updatedAt\n      agentVersionsByAgentId(orderBy: VERSION_DESC, first: 1000) {\n        nodes {\n          agentId\n          version\n          config\n          createdAt\n        }\n      }\n      runsByAgentId(orderBy: CREATED_AT_DESC, first: 8) {\n        totalCount\n        nodes {\n          ...RunRowFields\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').AgentDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateAgent($name: String!, $config: JSON!) {\n    createAgent(input: { agent: { name: $name, config: $config } }) {\n      agent {\n        id\n      }\n    }\n  }\n"): typeof import('./graphql').CreateAgentDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateAgent($id: UUID!, $config: JSON!) {\n    updateAgentById(input: { id: $id, agentPatch: { config: $config } }) {\n      agent {\n        id\n        version\n      }\n    }\n  }\n"): typeof import('./graphql').UpdateAgentDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Thread($id: UUID!) {\n    threadById(id: $id) {\n      id\n      createdAt\n      agentByAgentId {\n        id\n        name\n      }\n      runsByThreadId(orderBy: CREATED_AT_ASC, first: 1000) {\n        nodes {\n          ...RunFields\n          ...ParentFinished\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').ThreadDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription ThreadRunsUpdated {\n    runUpdated {\n      runId\n      run {\n        threadId\n        status\n      }\n    }\n  }\n"): typeof import('./graphql').ThreadRunsUpdatedDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Approvals {\n    runsAwaitingAnswerCount\n    runsAwaitingAnswer(first: 200) {\n      ...RunRowFields\n      input\n      finished: runEventsByRunId(condition: { type: \"RUN_FINISHED\" }, orderBy: SEQ_DESC, first: 1) {\n        nodes {\n          event\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').ApprovalsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription RunStatusUpdated {\n    runUpdated {\n      runId\n      run {\n        status\n        parentRunId\n      }\n    }\n  }\n"): typeof import('./graphql').RunStatusUpdatedDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query PendingApprovals {\n    runsAwaitingAnswerCount\n  }\n"): typeof import('./graphql').PendingApprovalsDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Dashboard($window: Int!, $bucket: Int!, $days: Int!) {\n    runStatusCounts(windowSeconds: $window) {\n      status\n      count\n    }\n    runThroughput(windowSeconds: $window, bucketSeconds: $bucket) {\n      start\n      started\n      succeeded\n      failed\n      cancelled\n      interrupted\n      steps\n      stepP50Ms\n      stepP95Ms\n    }\n    agentDailyUsage(days: $days) {\n      day\n      agentId\n      agentName\n      runs\n      inputTokens\n      outputTokens\n      cacheReadTokens\n      cacheWriteTokens\n      reasoningTokens\n      costUsd\n    }\n    liveWorkers {\n      poolId\n      hostname\n      pid\n      concurrency\n      startedAt\n      runningJobs\n    }\n    queueDepth {\n      ready\n      scheduled\n      running\n      oldestReadyAgeMs\n    }\n    runsAwaitingAnswerCount\n    failures: allRuns(condition: { status: \"failed\" }, orderBy: CREATED_AT_DESC, first: 8) {\n      nodes {\n        id\n        error\n        finishedAt\n        createdAt\n        agentByAgentId {\n          id\n          name\n        }\n      }\n    }\n  }\n"): typeof import('./graphql').DashboardDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription DashboardUpdated {\n    runUpdated {\n      runId\n    }\n  }\n"): typeof import('./graphql').DashboardUpdatedDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Whoami {\n    whoami {\n      keyId\n      workspaceId\n      workspaceName\n      role\n    }\n  }\n"): typeof import('./graphql').WhoamiDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query WorkflowRun($id: UUID!) {\n    runById(id: $id) {\n      id\n      parentRunId\n      runStepsByRunId(orderBy: SEQ_ASC, first: 1000) {\n        nodes {\n          ...WorkflowStepFields\n        }\n      }\n      threadByThreadId {\n        runsByThreadId(orderBy: CREATED_AT_DESC, first: 30) {\n          nodes {\n            id\n            parentRunId\n            runStepsByRunId(orderBy: SEQ_ASC, first: 1000) {\n              nodes {\n                ...WorkflowStepFields\n              }\n            }\n          }\n        }\n      }\n    }\n  }\n  fragment WorkflowStepFields on RunStep {\n    seq\n    kind\n    name\n    status\n    finishedAt\n    output\n  }\n"): typeof import('./graphql').WorkflowRunDocument;
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query RunTraceId($id: UUID!) {\n    runById(id: $id) {\n      id\n      traceParent\n    }\n  }\n"): typeof import('./graphql').RunTraceIdDocument;


export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}
