using System.Diagnostics.Metrics;
using System.Net;
using Amazon.S3;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using TrackMulti.Api.Telemetry;

namespace TrackMulti.Tests.Unit;

/// <summary>The TrackMulti meter as the Api registers it, read in-process (the dashboard serves no metrics API).</summary>
public sealed class MetricsTests
{
    private static MetricCollector<T> Collect<T>(BatchingHost host, string instrument) where T : struct =>
        new(host.Services.GetRequiredService<IMeterFactory>(), TrackMetrics.MeterName, instrument);

    [Fact]
    public async Task Batch_size_records_the_event_count_of_each_uploaded_batch()
    {
        await using var host = await new BatchingHost(new() { ["BATCH_SIZE"] = "3" }).StartAsync();
        using var batchSize = Collect<int>(host, TrackMetrics.BatchSize);
        using var bytes = Collect<long>(host, TrackMetrics.UploadBytes);

        await host.AppendAsync(8);
        await host.Writer.SealAsync(CancellationToken.None);
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        Assert.Equal([3, 3, 2], batchSize.GetMeasurementSnapshot().Select(m => m.Value));
        Assert.Equal(host.Store.Objects.Values.Sum(o => (long)o.Length), bytes.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    [Fact]
    public async Task Flush_failures_count_every_failed_attempt_by_reason_and_retries_are_counted()
    {
        await using var host = new BatchingHost(new() { ["BATCH_SIZE"] = "3", ["UPLOAD_RETRIES"] = "3" });
        host.Store.FailNext(2, () => new AmazonS3Exception("slow down", Amazon.Runtime.ErrorType.Receiver, "SlowDown", "r", HttpStatusCode.ServiceUnavailable));
        host.Store.FailNext(1, () => new AmazonS3Exception("boom", Amazon.Runtime.ErrorType.Receiver, "InternalError", "r", HttpStatusCode.InternalServerError));
        await host.StartAsync();
        using var failures = Collect<long>(host, TrackMetrics.FlushFailures);
        using var retries = Collect<long>(host, TrackMetrics.UploadRetries);

        await host.AppendAsync(3);
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        var byReason = failures.GetMeasurementSnapshot()
            .GroupBy(m => (string)m.Tags[TrackMetrics.ReasonTag]!)
            .ToDictionary(g => g.Key, g => g.Sum(m => m.Value));
        Assert.Equal(new Dictionary<string, long> { ["throttled"] = 2, ["server_error"] = 1 }, byReason);
        Assert.Equal(3, retries.GetMeasurementSnapshot().Sum(m => m.Value));
    }

    [Fact]
    public async Task Pending_events_and_spool_bytes_follow_the_spool()
    {
        await using var host = new BatchingHost(new() { ["BATCH_SIZE"] = "2" });
        host.Store.FailAll = new HttpRequestException("S3 is down");
        await host.StartAsync();
        using var pending = Collect<int>(host, TrackMetrics.EventsPending);
        using var spoolBytes = Collect<long>(host, TrackMetrics.SpoolBytes);

        await host.AppendAsync(3);
        pending.RecordObservableInstruments();
        spoolBytes.RecordObservableInstruments();

        Assert.Equal(3, pending.LastMeasurement!.Value);
        Assert.Equal(host.Spool.UsedBytes, spoolBytes.LastMeasurement!.Value);
        Assert.True(spoolBytes.LastMeasurement.Value > 0);
    }
}
