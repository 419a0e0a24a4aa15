using System.Net;
using System.Text;
using Amazon.S3;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TrackMulti.Api.Batching;
using TrackMulti.Api.Ingestion;
using TrackMulti.Api.Storage;

namespace TrackMulti.Tests.Unit;

/// <summary>
/// The Api's batching and upload services as the Api composes them (same registrations, real Polly pipeline),
/// with only the object store replaced by an in-memory one that can fail on demand.
/// </summary>
public sealed class BatchingTests : IAsyncLifetime
{
    private readonly RecordingBatchStore _store = new();
    private IHost _host = null!;

    private BatchWriter Writer => _host.Services.GetRequiredService<BatchWriter>();
    private UploadQueue Uploads => _host.Services.GetRequiredService<UploadQueue>();

    public async Task InitializeAsync()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["BATCH_SIZE"] = "3",
            ["INSTANCE_ID"] = "unit",
            ["UPLOAD_RETRIES"] = "2",
            ["UPLOAD_RETRY_BASE_DELAY_MS"] = "1",
            ["UPLOAD_PAUSE_MAX_SECONDS"] = "1",
        });
        builder.Services.AddSingleton(TimeProvider.System);
        builder.AddBatchStorage();
        builder.AddBatching();
        builder.Services.AddSingleton<IBatchStore>(_store);
        _host = builder.Build();
        await _host.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
    }

    private static TrackEvent Event(int n) => new()
    {
        TrafficType = "user",
        Name = "button_click",
        Value = n,
        ReceivedAt = DateTimeOffset.UnixEpoch.AddSeconds(n),
    };

    private async Task<List<AppendResult>> AppendAsync(int count, int first = 1)
    {
        var results = new List<AppendResult>();
        for (var n = first; n < first + count; n++)
        {
            results.Add(await Writer.AppendAsync(Event(n), CancellationToken.None));
        }
        return results;
    }

    [Fact]
    public async Task The_event_that_fills_a_batch_seals_it_under_a_new_key()
    {
        var results = await AppendAsync(7);

        Assert.Equal([1, 2, 0, 1, 2, 0, 1], results.Select(r => r.OpenEventCount));
        var sealedBatches = results.Where(r => r.Sealed is not null).Select(r => r.Sealed!).ToList();
        Assert.Equal(2, sealedBatches.Count);
        Assert.All(sealedBatches, b => Assert.Equal(3, b.EventCount));
        Assert.Equal([1L, 2L], sealedBatches.Select(b => b.Sequence));
        Assert.NotEqual(sealedBatches[0].Key, sealedBatches[1].Key);
        Assert.Equal(1, Writer.OpenEventCount);
    }

    [Fact]
    public async Task A_sealed_batch_is_the_events_NDJSON_lines_in_arrival_order()
    {
        var sealedBatch = (await AppendAsync(3))[2].Sealed!;

        var expected = string.Concat(Enumerable.Range(1, 3).Select(n => Encoding.UTF8.GetString(Event(n).ToJsonLine()) + "\n"));
        Assert.Equal(expected, Encoding.UTF8.GetString(sealedBatch.Content));
    }

    [Fact]
    public async Task Sealing_with_nothing_open_seals_nothing()
    {
        Assert.Null(await Writer.SealAsync(CancellationToken.None));
    }

    [Fact]
    public async Task A_drain_returns_once_every_batch_sealed_so_far_is_stored()
    {
        await AppendAsync(5);
        var partial = await Writer.SealAsync(CancellationToken.None);

        var drained = await Uploads.DrainAsync(CancellationToken.None);

        Assert.True(drained.Succeeded);
        Assert.Equal(2, partial!.EventCount);
        Assert.Equal(2, _store.Objects.Count);
        Assert.Equal(partial.Content, _store.Objects[partial.Key]);
        Assert.Equal(0, Uploads.Status().Batches);
    }

    [Fact]
    public async Task Transient_failures_are_retried_under_the_same_key_until_the_batch_lands()
    {
        // More failures than one round's retries: the first round fails, the batch stays, a later round lands it.
        _store.FailNext(4, () => new AmazonS3Exception("slow down", Amazon.Runtime.ErrorType.Receiver, "SlowDown", "r", HttpStatusCode.ServiceUnavailable));
        var batch = (await AppendAsync(3))[2].Sealed!;

        var first = await Uploads.DrainAsync(CancellationToken.None);
        Assert.False(first.Succeeded);
        Assert.Contains("503", first.Error);
        Assert.Equal([batch.Key], first.StillQueued.Select(b => b.Key));

        var second = await Uploads.DrainAsync(CancellationToken.None);

        Assert.True(second.Succeeded);
        Assert.Equal(5, _store.Attempts.Count);
        Assert.All(_store.Attempts, key => Assert.Equal(batch.Key, key));
        Assert.Equal(batch.Content, _store.Objects[batch.Key]);
    }

    [Fact]
    public async Task Access_denied_is_not_retried_within_a_round_but_the_batch_is_kept()
    {
        _store.FailAll = new AmazonS3Exception("denied", Amazon.Runtime.ErrorType.Sender, "AccessDenied", "r", HttpStatusCode.Forbidden);
        var batch = (await AppendAsync(3))[2].Sealed!;

        var drained = await Uploads.DrainAsync(CancellationToken.None);

        Assert.False(drained.Succeeded);
        Assert.Contains("AccessDenied", drained.Error);
        Assert.Single(_store.Attempts);
        Assert.Equal(1, Uploads.Status().Batches);
        Assert.Equal(3, Uploads.Status().Events);

        _store.FailAll = null;
        Assert.True((await Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        Assert.Equal(batch.Content, _store.Objects[batch.Key]);
    }

    [Fact]
    public async Task Newer_batches_keep_being_sealed_while_S3_fails_and_all_land_in_order_once_it_recovers()
    {
        _store.FailAll = new HttpRequestException("connection refused");

        var results = await AppendAsync(9);
        Assert.Equal(3, results.Count(r => r.Sealed is not null));
        Assert.False((await Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        Assert.Equal(9, Uploads.Status().Events);

        _store.FailAll = null;
        Assert.True((await Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        var lines = _store.Objects.OrderBy(o => o.Key, StringComparer.Ordinal)
            .SelectMany(o => Encoding.UTF8.GetString(o.Value).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            .Select(line => TrackEvent.FromJsonLine(Encoding.UTF8.GetBytes(line)).Value)
            .ToList();
        Assert.Equal(Enumerable.Range(1, 9).Select(n => (double?)n), lines);
    }

    [Fact]
    public async Task Stopping_seals_the_open_batch_and_uploads_it()
    {
        await AppendAsync(2);

        await _host.StopAsync();

        var stored = Assert.Single(_store.Objects);
        Assert.Equal(2, Encoding.UTF8.GetString(stored.Value).Count(c => c == '\n'));
        await Assert.ThrowsAsync<IntakeClosedException>(() => Writer.AppendAsync(Event(3), CancellationToken.None));
    }
}
