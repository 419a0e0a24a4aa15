using System.Diagnostics.Metrics;
using System.Net;
using Amazon.S3;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using TrackMulti.Api.Telemetry;
using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.HostedServices;

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
        Assert.Equal(host.Store.Objects.Values.Sum(o => (long)o.Length), Total(bytes));
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

        var byReason = Collected(failures)
            .GroupBy(m => (string)m.Tags[TrackMetrics.ReasonTag]!)
            .ToDictionary(g => g.Key, g => g.Sum(m => m.Value));
        Assert.Equal(new Dictionary<string, long> { ["throttled"] = 2, ["server_error"] = 1 }, byReason);
        Assert.Equal(3, Total(retries));
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

    [Fact]
    public async Task Each_sink_counts_what_it_sent_and_its_failed_attempts_by_reason_and_shows_its_backlog()
    {
        await using var fme = await FmeStandIn.StartAsync();
        fme.Answer = HttpStatusCode.InternalServerError;
        await using var host = new BatchingHost(new()
        {
            ["BATCH_SIZE"] = "2",
            ["FME_FORWARD"] = "all",
            ["HARNESS_FME_API_KEY"] = "client-key",
            ["FME_EVENTS_URL"] = fme.EventsUrl,
            ["FME_RETRIES"] = "1",
            ["FME_RETRY_BASE_DELAY_MS"] = "1",
            ["FME_PAUSE_MAX_SECONDS"] = "1",
        });
        await host.StartAsync();
        using var sent = Collect<long>(host, TrackMetrics.SinkSent);
        using var failures = Collect<long>(host, TrackMetrics.SinkFailures);
        using var backlog = Collect<long>(host, TrackMetrics.SinkBacklog);

        await host.AppendAsync(4, padding: 0);
        await Poll.UntilAsync(() => fme.Refused >= 2);
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        backlog.RecordObservableInstruments();
        var waiting = backlog.GetMeasurementSnapshot().ToDictionary(m => (string)m.Tags[TrackMetrics.SinkTag]!, m => m.Value);
        fme.Answer = null;
        await Poll.UntilAsync(() => fme.AcceptedEvents().Count == 4);

        Assert.Equal(0, waiting["s3"]);
        Assert.InRange(waiting["fme"], 1, 4);
        Assert.Equal(4, SumBy(sent, "s3"));
        await Poll.UntilAsync(() => SumBy(sent, "fme") == 4);
        var failed = Collected(failures).Where(m => m.Value > 0).ToList();
        Assert.All(failed, m => Assert.Equal(("fme", "server_error"), ((string)m.Tags[TrackMetrics.SinkTag]!, (string)m.Tags[TrackMetrics.ReasonTag]!)));
        Assert.True(failed.Sum(m => m.Value) >= 2);
    }

    [Fact]
    public async Task Every_counter_and_gauge_reports_from_the_start_and_no_histogram_reports_a_made_up_sample()
    {
        await using var host = await new BatchingHost().StartAsync();
        var meters = host.Services.GetRequiredService<IMeterFactory>();
        var published = new List<Instrument>();
        var reported = new HashSet<Instrument>();
        using var listener = new MeterListener
        {
            // Every instrument of the TrackMulti meter this host created, whatever it is: none is named here.
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == TrackMetrics.MeterName && instrument.Meter.Scope == meters)
                {
                    published.Add(instrument);
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<int>((instrument, _, _, _) => reported.Add(instrument));
        listener.SetMeasurementEventCallback<long>((instrument, _, _, _) => reported.Add(instrument));
        listener.SetMeasurementEventCallback<double>((instrument, _, _, _) => reported.Add(instrument));
        listener.Start();

        listener.RecordObservableInstruments(); // what an exporter does at each collection; no event was sent

        Assert.Contains(published, instrument => instrument.Name == TrackMetrics.FlushFailures);
        var histograms = published.Where(IsHistogram).ToList();
        Assert.NotEmpty(histograms);
        Assert.Empty(published.Except(histograms).Where(instrument => !reported.Contains(instrument)).Select(instrument => instrument.Name));
        Assert.Empty(histograms.Where(reported.Contains).Select(instrument => instrument.Name));
    }

    private static bool IsHistogram(Instrument instrument) =>
        instrument.GetType().IsGenericType && instrument.GetType().GetGenericTypeDefinition() == typeof(Histogram<>);

    /// <summary>What an observable counter reports now: its totals, one a tag set.</summary>
    private static IReadOnlyList<CollectedMeasurement<long>> Collected(MetricCollector<long> collector)
    {
        collector.Clear();
        collector.RecordObservableInstruments();
        return collector.GetMeasurementSnapshot();
    }

    private static long Total(MetricCollector<long> collector) => Collected(collector).Sum(m => m.Value);

    private static long SumBy(MetricCollector<long> collector, string sink) =>
        Collected(collector).Where(m => (string?)m.Tags.GetValueOrDefault(TrackMetrics.SinkTag) == sink).Sum(m => m.Value);
}
