using System.Text;
using TrackMulti.Api.Batching;
using TrackMulti.Api.Model;
using TrackMulti.Api.Sinks.S3;
using TrackMulti.Api.Pipeline;
using TrackMulti.Api.Spool;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

using TrackMulti.Tests.Infrastructure;

namespace TrackMulti.Tests.HostedServices;

/// <summary>The durable spool under the Api's hosted writer and sinks: what survives a stop, a crash and a full disk.</summary>
public sealed class SpoolTests
{
    private static string OpenDirectory(BatchingHost host) => Path.Combine(host.InstanceSpool, "open");
    private static string SealedDirectory(BatchingHost host) => Path.Combine(host.InstanceSpool, "sealed");

    [Fact]
    public async Task An_acknowledged_event_is_on_disk_in_the_open_segment_before_any_upload()
    {
        await using var host = await new BatchingHost().StartAsync();

        await host.AppendAsync(2);

        var segment = File.ReadAllBytes(Assert.Single(Directory.GetFiles(OpenDirectory(host))));
        var expected = BatchingHost.Event(1).ToJsonLine().Concat("\n"u8.ToArray()).Concat(BatchingHost.Event(2).ToJsonLine()).Concat("\n"u8.ToArray()).ToArray();
        Assert.Equal(expected, segment[..expected.Length]);
        // After the lines, only the zeros preallocated ahead of them (cut when the segment is sealed).
        Assert.All(segment[expected.Length..], b => Assert.Equal(0, b));
        Assert.Empty(host.Store.Attempts);
    }

    [Fact]
    public async Task Batches_that_S3_never_confirmed_are_uploaded_after_a_restart_under_their_original_keys()
    {
        await using var host = new BatchingHost(new() { ["BATCH_SIZE"] = "2" });
        host.Store.FailAll = new HttpRequestException("S3 is down");
        await host.StartAsync();
        var sealedKeys = (await host.AppendAsync(5)).Select(r => r.Sealed?.Key).OfType<string>().ToList();
        await host.StopAsync(); // seals the fifth event too; uploads fail; everything stays on disk

        Assert.Equal(3, Directory.GetFiles(SealedDirectory(host)).Length);
        host.Store.FailAll = null;
        await host.StartAsync();
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        Assert.Equal([1.0, 2.0, 3.0, 4.0, 5.0], host.StoredValues().Select(v => v!.Value));
        Assert.Equal(3, host.Store.Objects.Count);
        Assert.All(sealedKeys, key => Assert.True(host.Store.Objects.ContainsKey(key)));
        await Poll.UntilAsync(() => Directory.GetFiles(SealedDirectory(host)).Length == 0);
    }

    [Fact]
    public async Task Segments_left_open_by_two_streams_are_delivered_even_when_a_later_one_was_sealed_and_delivered_before()
    {
        // A crash with events and impressions batches open, after a batch opened between them was sealed and
        // uploaded (the cursor stands past it): recovery seals both after it in the log, so the cursor reaches them.
        await using var host = new BatchingHost();
        var lines = string.Concat(Enumerable.Range(1, 2).Select(n => Encoding.UTF8.GetString(BatchingHost.Event(n).ToJsonLine()) + "\n"));
        Directory.CreateDirectory(OpenDirectory(host));
        Directory.CreateDirectory(SealedDirectory(host));
        Directory.CreateDirectory(Path.Combine(host.InstanceSpool, "cursors"));
        await File.WriteAllTextAsync(Path.Combine(OpenDirectory(host), SpoolDirectory.FileName(3, Streams.Track, "events/open-3.ndjson")), lines);
        await File.WriteAllTextAsync(Path.Combine(OpenDirectory(host), SpoolDirectory.FileName(5, Streams.Impressions, "impressions/open-5.ndjson")), lines);
        await File.WriteAllTextAsync(Path.Combine(host.InstanceSpool, "cursors", S3Sink.SinkName), "5 0\n"); // delivered up to 4

        await host.StartAsync();
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        Assert.Equal(lines, Encoding.UTF8.GetString(host.Store.Objects["events/open-3.ndjson"]));
        Assert.Equal(lines, Encoding.UTF8.GetString(host.Store.Objects["impressions/open-5.ndjson"]));
    }

    [Fact]
    public async Task A_compressed_batch_stays_NDJSON_in_the_spool_and_every_upload_attempt_sends_the_same_gzip_object()
    {
        await using var host = new BatchingHost(new() { ["S3_COMPRESSION"] = "gzip", ["BATCH_SIZE"] = "3" });
        var lines = string.Concat(Enumerable.Range(1, 2).Select(n => Encoding.UTF8.GetString(BatchingHost.Event(n).ToJsonLine()) + "\n"));
        Directory.CreateDirectory(OpenDirectory(host));
        await File.WriteAllTextAsync(Path.Combine(OpenDirectory(host), SpoolDirectory.FileName(3, Streams.Track, "events/left-open.ndjson.gz")), lines);
        await File.WriteAllTextAsync(Path.Combine(OpenDirectory(host), SpoolDirectory.FileName(3, Streams.Track, "events/left-open.ndjson.gz") + ".encoding"), "half");

        await host.StartAsync();
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded); // the recovered one
        host.Store.FailNext(2, () => new Amazon.S3.AmazonS3Exception("slow down", Amazon.Runtime.ErrorType.Receiver, "SlowDown", "r", System.Net.HttpStatusCode.ServiceUnavailable));
        var sealedBatch = (await host.AppendAsync(3, first: 3))[2].Sealed!;
        var written = string.Concat(Enumerable.Range(3, 3).Select(n => Encoding.UTF8.GetString(BatchingHost.Event(n).ToJsonLine()) + "\n"));
        // The spool holds the lines themselves, and its bound counts them.
        Assert.Equal(written, await File.ReadAllTextAsync(host.Services.GetRequiredService<SpoolDirectory>().SealedPath(host.Uploads.Pending().Single(s => s.Key == sealedBatch.Key))));
        Assert.Equal(Encoding.UTF8.GetByteCount(written), sealedBatch.Bytes);
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded); // the third attempt lands

        Assert.Equal(lines, Gunzip(host.Store.Objects["events/left-open.ndjson.gz"]));
        Assert.Equal(written, Gunzip(host.Store.Objects[sealedBatch.Key]));
        var attempts = host.Store.Sent.Where(sent => sent.Key == sealedBatch.Key).Select(sent => sent.Body).ToList();
        Assert.Equal(3, attempts.Count);
        Assert.All(attempts, body => Assert.Equal(host.Store.Objects[sealedBatch.Key], body));
        Assert.Empty(Directory.GetFiles(OpenDirectory(host)));
        Assert.Equal(0, host.Spool.UsedBytes);
    }

    [Fact]
    public async Task A_gzip_batch_an_older_version_sealed_as_its_object_is_read_back_to_its_lines_and_uploaded_once_compressed()
    {
        await using var host = new BatchingHost(new() { ["S3_COMPRESSION"] = "gzip" });
        var lines = string.Concat(Enumerable.Range(1, 2).Select(n => Encoding.UTF8.GetString(BatchingHost.Event(n).ToJsonLine()) + "\n"));
        var sealedDirectory = SealedDirectory(host);
        Directory.CreateDirectory(sealedDirectory);
        await using (var file = File.Create(Path.Combine(sealedDirectory, SpoolDirectory.FileName(5, Streams.Track, "events/old.ndjson.gz"))))
        await using (var gzip = new System.IO.Compression.GZipStream(file, System.IO.Compression.CompressionLevel.Optimal))
        {
            await gzip.WriteAsync(Encoding.UTF8.GetBytes(lines));
        }

        await host.StartAsync();
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        Assert.Equal(lines, Gunzip(host.Store.Objects["events/old.ndjson.gz"]));
    }

    private static string Gunzip(byte[] content)
    {
        using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(content), System.IO.Compression.CompressionMode.Decompress);
        using var reader = new StreamReader(gzip, Encoding.UTF8);
        return reader.ReadToEnd();
    }

    [Fact]
    public async Task A_torn_last_record_is_cut_and_the_complete_records_before_it_are_uploaded()
    {
        await using var host = new BatchingHost();
        var good = string.Concat(Enumerable.Range(1, 2).Select(n => Encoding.UTF8.GetString(BatchingHost.Event(n).ToJsonLine()) + "\n"));
        var key = "events/batch-2025-10-24T10-30-15-123Z-unit-000007.ndjson";
        Directory.CreateDirectory(OpenDirectory(host));
        await File.WriteAllTextAsync(
            Path.Combine(OpenDirectory(host), SpoolDirectory.FileName(7, Streams.Track, key)),
            good + """{"trafficType":"user","name":"button_cl""");

        await host.StartAsync();
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        Assert.Equal(good, Encoding.UTF8.GetString(Assert.Single(host.Store.Objects, o => o.Key == key).Value));
        // Sequences continue after the recovered one, so a new batch never reuses its key.
        var next = (await host.AppendAsync(3))[2].Sealed!;
        Assert.Matches(@"-unit-0000(0[89]|[1-9]\d)\.ndjson$", next.Key);
        Assert.True(next.Sequence > 8); // after the recovered segment's place in the log
    }

    [Fact]
    public async Task A_crash_leaves_the_zero_filled_preallocation_after_the_records_and_recovery_cuts_it_with_any_torn_record()
    {
        await using var host = new BatchingHost();
        var good = string.Concat(Enumerable.Range(1, 2).Select(n => Encoding.UTF8.GetString(BatchingHost.Event(n).ToJsonLine()) + "\n"));
        var preallocation = new string('\0', 64 * 1024);
        Directory.CreateDirectory(OpenDirectory(host));
        await File.WriteAllTextAsync(Path.Combine(OpenDirectory(host), SpoolDirectory.FileName(1, Streams.Track, "events/clean.ndjson")), good + preallocation);
        await File.WriteAllTextAsync(Path.Combine(OpenDirectory(host), SpoolDirectory.FileName(2, Streams.Track, "events/torn.ndjson")),
            good + """{"trafficType":"user","na""" + preallocation);

        await host.StartAsync();
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        Assert.Equal(good, Encoding.UTF8.GetString(host.Store.Objects["events/clean.ndjson"]));
        Assert.Equal(good, Encoding.UTF8.GetString(host.Store.Objects["events/torn.ndjson"]));
    }

    [Fact]
    public async Task A_segment_left_in_both_folders_by_a_power_cut_during_its_seal_is_recovered_and_uploaded_once()
    {
        await using var host = new BatchingHost();
        var good = string.Concat(Enumerable.Range(1, 2).Select(n => Encoding.UTF8.GetString(BatchingHost.Event(n).ToJsonLine()) + "\n"));
        var name = SpoolDirectory.FileName(4, Streams.Track, "events/both.ndjson");
        Directory.CreateDirectory(OpenDirectory(host));
        Directory.CreateDirectory(SealedDirectory(host));
        await File.WriteAllTextAsync(Path.Combine(OpenDirectory(host), name), good);
        await File.WriteAllTextAsync(Path.Combine(SealedDirectory(host), name), good);

        await host.StartAsync();
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        Assert.Equal(good, Encoding.UTF8.GetString(Assert.Single(host.Store.Objects).Value));
        Assert.Single(host.Store.Attempts);
        Assert.Empty(Directory.GetFiles(OpenDirectory(host)));
        await Poll.UntilAsync(() => Directory.GetFiles(SealedDirectory(host)).Length == 0);
    }

    [Fact]
    public async Task A_spare_file_left_by_a_crash_is_deleted_at_start_and_never_becomes_a_batch()
    {
        await using var host = new BatchingHost();
        var spares = Path.Combine(host.InstanceSpool, "spare");
        Directory.CreateDirectory(spares);
        var left = Path.Combine(spares, "track-1-1");
        await File.WriteAllBytesAsync(left, new byte[64 * 1024]);

        await host.StartAsync();
        await host.AppendAsync(1);
        await host.Writer.SealAsync(CancellationToken.None);
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        Assert.DoesNotContain(left, Directory.GetFiles(spares));
        Assert.Equal([1.0], host.StoredValues().Select(v => v!.Value)); // the one batch written, nothing of the spare
    }

    [Fact]
    public async Task A_record_that_ends_in_a_newline_but_is_garbage_is_cut_too()
    {
        await using var host = new BatchingHost();
        var good = Encoding.UTF8.GetString(BatchingHost.Event(1).ToJsonLine()) + "\n";
        Directory.CreateDirectory(OpenDirectory(host));
        await File.WriteAllTextAsync(Path.Combine(OpenDirectory(host), SpoolDirectory.FileName(1, Streams.Track, "events/k.ndjson")), good + "\0\0\0\0\n");

        await host.StartAsync();
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        Assert.Equal(good, Encoding.UTF8.GetString(host.Store.Objects["events/k.ndjson"]));
    }

    [Fact]
    public async Task An_open_segment_with_no_complete_record_is_dropped_without_an_upload()
    {
        await using var host = new BatchingHost();
        Directory.CreateDirectory(OpenDirectory(host));
        await File.WriteAllTextAsync(Path.Combine(OpenDirectory(host), SpoolDirectory.FileName(3, Streams.Track, "events/torn.ndjson")), "{\"name\":");

        await host.StartAsync();

        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        Assert.Empty(host.Store.Attempts);
        Assert.Empty(Directory.GetFiles(OpenDirectory(host)));
    }

    [Fact]
    public async Task With_SPOOL_SYNC_interval_the_background_syncs_and_the_seals_of_the_same_segments_lose_and_fault_nothing()
    {
        // A sync falls due every millisecond while batches of 7 are sealed under it: the two meet on the same files.
        await using var host = await new BatchingHost(
            new() { ["SPOOL_SYNC"] = "interval", ["SPOOL_SYNC_INTERVAL_MS"] = "1", ["BATCH_SIZE"] = "7" }).StartAsync();

        await Task.WhenAll(Enumerable.Range(0, 4).Select(sender => Task.Run(async () =>
        {
            for (var n = sender * 250 + 1; n <= (sender + 1) * 250; n++)
            {
                await host.Writer.AppendAsync(BatchingHost.Event(n).ToJsonLine(), CancellationToken.None);
            }
        })));
        await host.Writer.SealAsync(CancellationToken.None);
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        Assert.Null(host.Spool.Fault);
        Assert.Equal(Enumerable.Range(1, 1000).Select(n => (double?)n), host.StoredValues().Order());
    }

    [Fact]
    public async Task Past_SPOOL_MAX_BYTES_appends_are_refused_and_everything_acknowledged_lands_later()
    {
        await using var host = new BatchingHost(new() { ["BATCH_SIZE"] = "2", ["SPOOL_MAX_BYTES"] = "4096" });
        host.Store.FailAll = new HttpRequestException("S3 is down");
        await host.StartAsync();

        var (acknowledged, refused) = await AppendUntilRefusedAsync<SpoolFullException>(host, padding: 100, limit: 100);

        Assert.NotNull(refused);
        Assert.InRange(acknowledged.Count, 10, 40);
        Assert.True(host.Spool.UsedBytes <= 4096);

        host.Store.FailAll = null;
        await host.Writer.SealAsync(CancellationToken.None);
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        Assert.Equal(acknowledged.Select(n => (double?)n), host.StoredValues());
        await host.Writer.AppendAsync(BatchingHost.Event(1000).ToJsonLine(), CancellationToken.None); // room again
    }

    [SkippableFact]
    public async Task On_a_full_disk_appends_fail_cleanly_and_only_acknowledged_events_are_stored()
    {
        await using var host = new BatchingHost(new() { ["BATCH_SIZE"] = "1000" });
        using var disk = TinyDisk.Mount(host.SpoolDirectory, "48k");
        host.Store.FailAll = new HttpRequestException("S3 is down");
        await host.StartAsync();

        var (acknowledged, refused) = await AppendUntilRefusedAsync<SpoolWriteException>(host, padding: 500, limit: 500);

        Assert.NotNull(refused);
        Assert.Contains("could not store", refused.Message);
        Assert.NotEmpty(acknowledged);

        host.Store.FailAll = null;
        await host.Writer.SealAsync(CancellationToken.None);
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        Assert.Equal(acknowledged.Select(n => (double?)n), host.StoredValues());
        await host.StopAsync();
    }

    [Fact]
    public async Task A_spool_that_cannot_create_a_segment_refuses_each_event_without_hanging_and_recovers_when_fixed()
    {
        await using var host = new BatchingHost();
        var blocker = Path.Combine(host.InstanceSpool, "sequence");
        Directory.CreateDirectory(blocker); // the sequence reservation cannot be written: not an IOException on every OS
        await host.StartAsync();

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await Assert.ThrowsAsync<SpoolWriteException>(() => host.Writer.AppendAsync(BatchingHost.Event(1).ToJsonLine(), timeout.Token));
        await Assert.ThrowsAsync<SpoolWriteException>(() => host.Writer.AppendAsync(BatchingHost.Event(2).ToJsonLine(), timeout.Token));

        Directory.Delete(blocker);
        await host.Writer.AppendAsync(BatchingHost.Event(3).ToJsonLine(), timeout.Token);
        await host.Writer.SealAsync(timeout.Token);
        Assert.True((await host.Uploads.DrainAsync(timeout.Token)).Succeeded);
        Assert.Equal([3.0], host.StoredValues().Select(v => v!.Value));
    }

    [Fact]
    public async Task A_seal_that_fails_stops_intake_fails_liveness_and_the_events_come_back_after_a_restart()
    {
        await using var host = new BatchingHost(new() { ["BATCH_SIZE"] = "2" });
        await host.StartAsync();
        Directory.Delete(SealedDirectory(host)); // the rename into sealed/ will fail

        var results = await host.AppendAsync(2);

        Assert.Null(results[1].Sealed); // acknowledged (it is on disk) but not sealed
        Assert.NotNull(host.Spool.Fault);
        await Assert.ThrowsAsync<SpoolWriteException>(() => host.Writer.AppendAsync(BatchingHost.Event(3).ToJsonLine(), CancellationToken.None));
        var health = await host.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(c => c.Name == SpoolHealthCheck.Name);
        Assert.Equal(HealthStatus.Unhealthy, health.Status);

        await host.StopAsync();
        Directory.CreateDirectory(SealedDirectory(host));
        await host.StartAsync();
        Assert.Null(host.Spool.Fault);
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);
        Assert.Equal([1.0, 2.0], host.StoredValues().Select(v => v!.Value));
    }

    [Fact]
    public async Task Seals_racing_appends_from_many_senders_with_tiny_batches_flushes_and_an_hour_boundary_keep_every_event_once_in_its_hour()
    {
        await using var host = await new BatchingHost(new() { ["BATCH_SIZE"] = "3", ["S3_PARTITIONING"] = "hourly" }).StartAsync();
        var tenToEleven = new DateTimeOffset(2025, 10, 24, 10, 59, 59, 900, TimeSpan.Zero);
        DateTimeOffset ReceivedAt(int n) => n % 3 == 0 ? tenToEleven.AddMilliseconds(200) : tenToEleven;
        using var load = new CancellationTokenSource();
        var flushes = Task.Run(async () =>
        {
            while (!load.IsCancellationRequested)
            {
                await host.Batches.SealAllAsync(CancellationToken.None);
                await Task.Delay(1);
            }
        });

        // 16 senders, each sending one or two events at a time, each request's events of one hour.
        var senders = Enumerable.Range(0, 16).Select(sender => Task.Run(async () =>
        {
            for (var n = sender * 1000; n < sender * 1000 + 150; n += 2)
            {
                IReadOnlyList<byte[]> lines = n % 4 == 0
                    ? [BatchingHost.Event(n).ToJsonLine()]
                    : [BatchingHost.Event(n).ToJsonLine(), BatchingHost.Event(n + 1).ToJsonLine()];
                await host.Writer.AppendAsync(lines, ReceivedAt(n), CancellationToken.None);
            }
        })).ToList();
        await Task.WhenAll(senders);
        load.Cancel();
        await flushes;
        await host.Writer.SealAsync(CancellationToken.None);
        Assert.True((await host.Uploads.DrainAsync(CancellationToken.None)).Succeeded);

        List<int> expected = [.. Enumerable.Range(0, 16).SelectMany(sender => Enumerable.Range(0, 75).Select(i => sender * 1000 + 2 * i))
            .SelectMany(n => n % 4 == 0 ? new[] { n } : [n, n + 1])];
        Assert.Equal(expected.Order().Select(n => (double?)n), host.StoredValues().Order());
        foreach (var (key, content) in host.Store.Objects)
        {
            var values = Encoding.UTF8.GetString(content).Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(line => (int)TrackEvent.FromJsonLine(Encoding.UTF8.GetBytes(line)).NumericValue!.Value).ToList();
            Assert.InRange(values.Count, 1, 3);
            var hour = key.Contains("/hour=11/") ? 11 : 10;
            // A request's events share its hour: the first of a pair decides it.
            Assert.All(values, v => Assert.Equal(hour, ReceivedAt(v % 2 == 0 ? v : v - 1).Hour));
        }
        Assert.Empty(Directory.GetFiles(OpenDirectory(host)));
    }

    /// <summary>Appends events 1, 2, … until the writer refuses one with <typeparamref name="TRefusal"/>.</summary>
    private static async Task<(List<int> Acknowledged, TRefusal? Refused)> AppendUntilRefusedAsync<TRefusal>(
        BatchingHost host, int padding, int limit) where TRefusal : Exception
    {
        var acknowledged = new List<int>();
        for (var n = 1; n <= limit; n++)
        {
            try
            {
                await host.Writer.AppendAsync(BatchingHost.Event(n, padding).ToJsonLine(), CancellationToken.None);
                acknowledged.Add(n);
            }
            catch (TRefusal refused)
            {
                return (acknowledged, refused);
            }
        }
        return (acknowledged, null);
    }
}
