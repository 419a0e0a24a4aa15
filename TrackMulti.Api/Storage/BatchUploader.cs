using Microsoft.Extensions.Options;
using Polly;
using Polly.Registry;
using TrackMulti.Api.Spool;
using TrackMulti.Api.Telemetry;

namespace TrackMulti.Api.Storage;

/// <summary>
/// Moves sealed batches to S3, oldest first, off the request path. Each round is one run of the Polly pipeline
/// (quick retries with backoff and a per-attempt timeout); after a failed round the batch stays at the head of the
/// queue and is tried again after a growing pause, forever: an acknowledged batch is never dropped. Once S3 confirms
/// a batch, its spool file is deleted.
/// </summary>
public sealed class BatchUploader(
    UploadQueue queue,
    IBatchStore store,
    SpoolDirectory spool,
    ResiliencePipelineProvider<string> pipelines,
    IOptions<UploadOptions> options,
    TrackMetrics metrics,
    TimeProvider time,
    ILogger<BatchUploader> logger) : BackgroundService
{
    public const string PipelineName = "s3-upload";

    private readonly ResiliencePipeline _pipeline = pipelines.GetPipeline(PipelineName);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await UploadHeadAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // The writer has stopped and sealed its last batch (it was registered after us, so it stopped first).
        // Keep uploading until the queue is empty or the host's shutdown timeout ends; what is left stays in the spool.
        try
        {
            while (!(await queue.DrainAsync(cancellationToken)).Succeeded)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            var left = queue.Status();
            logger.LogWarning(
                "Shutdown timeout reached with {Batches} batches ({Events} events) not uploaded; they stay in the spool for the next start",
                left.Batches, left.Events);
        }
        await base.StopAsync(cancellationToken);
    }

    private async Task UploadHeadAsync(CancellationToken stoppingToken)
    {
        await queue.WaitForWorkAsync(stoppingToken);
        if (queue.Peek() is not { } batch)
        {
            return;
        }

        using var span = TrackTracing.StartUpload(batch, store.Location);
        var attempts = 0;
        try
        {
            await _pipeline.ExecuteAsync(async ct =>
            {
                var attempt = ++attempts;
                var started = time.GetTimestamp();
                try
                {
                    await store.PutAsync(batch, ct);
                    metrics.UploadAttempted(attempt, time.GetElapsedTime(started), failureReason: null);
                }
                catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
                {
                    // Every failed attempt counts, the ones Polly retries too; a cancelled attempt is the attempt timeout.
                    metrics.UploadAttempted(attempt, time.GetElapsedTime(started), S3Faults.Reason(ex));
                    throw;
                }
            }, stoppingToken);
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            span?.SetTag("trackmulti.upload.attempts", attempts);
            span?.SetStatus(System.Diagnostics.ActivityStatusCode.Error, S3Faults.Reason(ex));
            var reason = S3Faults.Describe(ex);
            var (failures, drainRequests) = queue.MarkFailed(batch, reason);
            var pause = options.Value.PauseAfter(failures);
            if (S3Faults.IsTransient(ex))
            {
                logger.LogWarning("Upload of {Key} failed ({Reason}); retrying in {Pause}", batch.Key, reason, pause);
            }
            else
            {
                // Not transient (access denied, missing bucket): retrying soon will not help, but the batch is kept.
                logger.LogError(ex, "Upload of {Key} failed and needs attention: {Reason}; retrying in {Pause}", batch.Key, reason, pause);
            }
            span?.Dispose(); // the span is the attempt round, not the pause after it
            await queue.PauseAsync(pause, drainRequests, stoppingToken);
            return;
        }

        span?.SetTag("trackmulti.upload.attempts", attempts);
        queue.MarkUploaded(batch);
        metrics.BatchUploaded(batch);
        try
        {
            spool.Remove(batch);
        }
        catch (Exception ex)
        {
            // Harmless: a leftover file is uploaded again on the next start, to the same key.
            logger.LogWarning(ex, "Could not delete the uploaded segment {Path}", batch.Path);
        }
        logger.LogInformation("Uploaded {Key} ({Events} events, {Bytes} bytes)", batch.Key, batch.EventCount, batch.ByteCount);
    }
}
