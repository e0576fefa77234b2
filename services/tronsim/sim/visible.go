package sim

import (
	"encoding/hex"
	"unicode/utf8"

	"github.com/mongotron/mongotron/pkg/tron"
)

// With visible=true java-tron prints the address fields of its messages in
// base58check (internal transactions' caller_address and
// transferTo_address included) and TRC10 asset names as text; every other
// bytes field stays hex, and so do log addresses (20 bytes, not an account
// address).

func base58(h string) string {
	if h == "" {
		return h
	}
	a, err := tron.ParseHex(h)
	if err != nil || len(h) != 2*tron.AddressLen {
		return h
	}
	return a.String()
}

func visibleBlock(b *tron.Block) tron.Block {
	out := *b
	out.BlockHeader.RawData.WitnessAddress = base58(b.BlockHeader.RawData.WitnessAddress)
	if b.Transactions != nil {
		out.Transactions = make([]tron.Transaction, len(b.Transactions))
		for i := range b.Transactions {
			out.Transactions[i] = visibleTx(&b.Transactions[i])
		}
	}
	return out
}

func visibleTx(tx *tron.Transaction) tron.Transaction {
	out := *tx
	out.RawData.Contract = make([]tron.Contract, len(tx.RawData.Contract))
	for i, c := range tx.RawData.Contract {
		v := &c.Parameter.Value
		v.OwnerAddress = base58(v.OwnerAddress)
		v.ToAddress = base58(v.ToAddress)
		v.ContractAddress = base58(v.ContractAddress)
		v.ReceiverAddress = base58(v.ReceiverAddress)
		v.AccountAddress = base58(v.AccountAddress)
		if v.AssetName != "" {
			if name, err := hex.DecodeString(v.AssetName); err == nil && utf8.Valid(name) {
				v.AssetName = string(name)
			}
		}
		if v.Votes != nil {
			votes := make([]tron.VoteWitness, len(v.Votes))
			for j, vw := range v.Votes {
				votes[j] = tron.VoteWitness{VoteAddress: base58(vw.VoteAddress), VoteCount: vw.VoteCount}
			}
			v.Votes = votes
		}
		if v.NewContract != nil {
			nc := *v.NewContract
			nc.OriginAddress = base58(nc.OriginAddress)
			nc.ContractAddress = base58(nc.ContractAddress)
			v.NewContract = &nc
		}
		out.RawData.Contract[i] = c
	}
	return out
}

func visibleInfo(info tron.TxInfo) tron.TxInfo {
	info.ContractAddress = base58(info.ContractAddress)
	if info.InternalTransactions != nil {
		its := make([]tron.InternalTx, len(info.InternalTransactions))
		for i, it := range info.InternalTransactions {
			it.CallerAddress = base58(it.CallerAddress)
			it.TransferToAddress = base58(it.TransferToAddress)
			its[i] = it
		}
		info.InternalTransactions = its
	}
	return info
}

func visibleInfos(infos []tron.TxInfo) []tron.TxInfo {
	out := make([]tron.TxInfo, len(infos))
	for i := range infos {
		out[i] = visibleInfo(infos[i])
	}
	return out
}
