// sarama 1.22 (Debian golang-github-shopify-sarama-dev) against sluiced, driven by
// ../sarama_test.py, which builds this offline (GOPATH mode against /usr/share/gocode) and checks
// what it prints.
//
// Usage: sarama-compat SPEC.json. The spec names the bootstrap address, topic, group and the
// records to send (bytes in base64, as encoding/json writes []byte). The program creates the
// topic with the cluster admin, starts two members of one consumer group and waits until their
// claims split the partitions, sends the records (half plain, half snappy) with a SyncProducer,
// reads until every record arrived plus a grace period for duplicates, closes the group (which
// commits the marked offsets), fetches the committed offsets, and prints one line `RESULT {json}`.
// Any failure exits non-zero with the reason on stderr; a global timer bounds the whole run.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/ioutil"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

type header struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

type rec struct {
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	Key       []byte   `json:"key"`
	Value     []byte   `json:"value"`
	Headers   []header `json:"headers"`
	Timestamp int64    `json:"timestamp"`
	Member    int      `json:"member"`
	Assigned  []int32  `json:"assigned"`
}

type spec struct {
	Bootstrap  string `json:"bootstrap"`
	Topic      string `json:"topic"`
	Group      string `json:"group"`
	Partitions int32  `json:"partitions"`
	BudgetMs   int64  `json:"budgetMs"`
	Records    []rec  `json:"records"`
}

type result struct {
	Partitions []int32         `json:"partitions"`
	Acks       [][2]int64      `json:"acks"` // [partition, offset] per record sent, in order
	Consumed   []rec           `json:"consumed"`
	Committed  map[int32]int64 `json:"committed"`
}

var phase = "start"

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "sarama: failed in phase %s: %s\n", phase, fmt.Sprintf(format, args...))
	os.Exit(1)
}

func config(version sarama.KafkaVersion) *sarama.Config {
	c := sarama.NewConfig()
	c.Version = version
	c.ClientID = "compat-sarama"
	c.Net.DialTimeout = 3 * time.Second
	c.Net.ReadTimeout = 10 * time.Second
	c.Net.WriteTimeout = 10 * time.Second
	c.Metadata.Retry.Max = 2
	c.Metadata.Retry.Backoff = 200 * time.Millisecond
	c.Producer.Return.Successes = true
	c.Producer.RequiredAcks = sarama.WaitForAll
	c.Producer.Partitioner = sarama.NewManualPartitioner
	c.Producer.Retry.Max = 3
	c.Consumer.Offsets.Initial = sarama.OffsetOldest
	c.Consumer.Offsets.CommitInterval = 200 * time.Millisecond
	c.Consumer.Group.Session.Timeout = 6 * time.Second
	c.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	c.Consumer.Group.Rebalance.Timeout = 10 * time.Second
	c.Consumer.MaxWaitTime = 200 * time.Millisecond
	c.Consumer.Return.Errors = true
	return c
}

// member is one consumer of the group; its handler records every message with the claims of
// the session it arrived in.
type member struct {
	id       int
	mu       *sync.Mutex
	claims   []int32
	consumed *[]rec
}

func (m *member) Setup(s sarama.ConsumerGroupSession) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.claims = append([]int32(nil), s.Claims()[spec0.Topic]...)
	sort.Slice(m.claims, func(i, j int) bool { return m.claims[i] < m.claims[j] })
	return nil
}

func (m *member) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (m *member) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for msg := range c.Messages() {
		r := rec{Partition: msg.Partition, Offset: msg.Offset, Key: msg.Key, Value: msg.Value,
			Timestamp: msg.Timestamp.UnixNano() / int64(time.Millisecond), Member: m.id,
			Headers: []header{}}
		for _, h := range msg.Headers {
			r.Headers = append(r.Headers, header{Key: string(h.Key), Value: h.Value})
		}
		m.mu.Lock()
		r.Assigned = append([]int32(nil), m.claims...)
		*m.consumed = append(*m.consumed, r)
		m.mu.Unlock()
		s.MarkMessage(msg, "")
	}
	return nil
}

var spec0 spec

func waitFor(cond func() bool, d time.Duration, what string) {
	until := time.Now().Add(d)
	for !cond() {
		if time.Now().After(until) {
			fail("%s: not within %v", what, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func main() {
	data, err := ioutil.ReadFile(os.Args[1])
	if err != nil {
		fail("%v", err)
	}
	if err := json.Unmarshal(data, &spec0); err != nil {
		fail("spec: %v", err)
	}
	time.AfterFunc(time.Duration(spec0.BudgetMs)*time.Millisecond, func() {
		fmt.Fprintf(os.Stderr, "sarama: no result within %d ms (phase: %s)\n", spec0.BudgetMs, phase)
		os.Exit(3)
	})
	addrs := []string{spec0.Bootstrap}
	cfg := config(sarama.V2_1_0_0)
	var out result

	phase = "create topic"
	admin, err := sarama.NewClusterAdmin(addrs, cfg)
	if err != nil {
		fail("cluster admin: %v", err)
	}
	detail := &sarama.TopicDetail{NumPartitions: spec0.Partitions, ReplicationFactor: 1}
	if err := admin.CreateTopic(spec0.Topic, detail, false); err != nil {
		fail("CreateTopic: %v", err)
	}
	md, err := admin.DescribeTopics([]string{spec0.Topic})
	if err != nil || len(md) != 1 || md[0].Err != sarama.ErrNoError {
		fail("DescribeTopics: %v %v", err, md)
	}
	for _, p := range md[0].Partitions {
		out.Partitions = append(out.Partitions, p.ID)
	}
	sort.Slice(out.Partitions, func(i, j int) bool { return out.Partitions[i] < out.Partitions[j] })

	phase = "group join"
	var mu sync.Mutex
	ctx, cancel := context.WithCancel(context.Background())
	var members []*member
	var groups []sarama.ConsumerGroup
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		m := &member{id: i, mu: &mu, consumed: &out.Consumed}
		g, err := sarama.NewConsumerGroup(addrs, spec0.Group, cfg)
		if err != nil {
			fail("NewConsumerGroup: %v", err)
		}
		go func(i int) {
			for err := range g.Errors() {
				fmt.Fprintf(os.Stderr, "sarama: member %d: %v\n", i, err)
			}
		}(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if err := g.Consume(ctx, []string{spec0.Topic}, m); err != nil && ctx.Err() == nil {
					fail("Consume: %v", err)
				}
			}
		}()
		members = append(members, m)
		groups = append(groups, g)
	}
	waitFor(func() bool {
		mu.Lock()
		defer mu.Unlock()
		var all []int32
		for _, m := range members {
			if len(m.claims) == 0 {
				return false
			}
			all = append(all, m.claims...)
		}
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		return fmt.Sprint(all) == fmt.Sprint(out.Partitions)
	}, 40*time.Second, "two members splitting the partitions")

	phase = "produce"
	half := len(spec0.Records) / 2
	for n, codec := range []sarama.CompressionCodec{sarama.CompressionNone, sarama.CompressionSnappy} {
		pc := config(sarama.V2_1_0_0)
		pc.Producer.Compression = codec
		producer, err := sarama.NewSyncProducer(addrs, pc)
		if err != nil {
			fail("NewSyncProducer: %v", err)
		}
		var msgs []*sarama.ProducerMessage
		for _, r := range spec0.Records[n*half : (n+1)*half] {
			m := &sarama.ProducerMessage{Topic: spec0.Topic, Partition: r.Partition,
				Timestamp: time.Unix(0, r.Timestamp*int64(time.Millisecond))}
			if r.Key != nil {
				m.Key = sarama.ByteEncoder(r.Key)
			}
			if r.Value != nil {
				m.Value = sarama.ByteEncoder(r.Value)
			}
			for _, h := range r.Headers {
				m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value})
			}
			msgs = append(msgs, m)
		}
		if err := producer.SendMessages(msgs); err != nil {
			fail("SendMessages (%v): %v", codec, err)
		}
		for _, m := range msgs {
			out.Acks = append(out.Acks, [2]int64{int64(m.Partition), m.Offset})
		}
		if err := producer.Close(); err != nil {
			fail("producer close: %v", err)
		}
	}

	phase = "consume"
	waitFor(func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(out.Consumed) >= len(spec0.Records)
	}, 40*time.Second, fmt.Sprintf("the group reading %d records", len(spec0.Records)))
	time.Sleep(1500 * time.Millisecond) // room for duplicates to show up
	cancel()
	for _, g := range groups {
		if err := g.Close(); err != nil {
			fail("group close: %v", err)
		}
	}
	wg.Wait()

	phase = "committed offsets"
	wanted := map[string][]int32{spec0.Topic: out.Partitions}
	offsets, err := admin.ListConsumerGroupOffsets(spec0.Group, wanted)
	if err != nil {
		fail("ListConsumerGroupOffsets: %v", err)
	}
	out.Committed = map[int32]int64{}
	for _, p := range out.Partitions {
		b := offsets.GetBlock(spec0.Topic, p)
		if b == nil || b.Err != sarama.ErrNoError {
			fail("committed offset of partition %d: %v", p, b)
		}
		out.Committed[p] = b.Offset
	}
	admin.Close()
	mu.Lock()
	res, err := json.Marshal(out)
	mu.Unlock()
	if err != nil {
		fail("%v", err)
	}
	fmt.Printf("RESULT %s\n", res)
}
